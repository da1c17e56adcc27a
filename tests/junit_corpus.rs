//! Every file of the shared JUnit corpus, with the counts it must yield.
//!
//! The expected counts were derived from each file's own `tests`/`failures`/`errors`/
//! `skipped` attributes and an independent element count, and checked by eye where
//! they disagree; the comment above a row says what the attributes claim and why the
//! row differs. Columns: tests, passed, failed, errors, skipped, flaky_in_run.
//!
//! The corpus is found through `FLAKEWATCH_CORPUS_DIR`, else
//! `CARGO_MANIFEST_DIR/../shared/junit-corpus`.

use flakewatch::junit::{parse_all, ErrorKind, ParseOptions, Summary};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Row {
    path: &'static str,
    expect: Result<[u64; 6], &'static str>,
}

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // root tests=13 is mocha's own count; the suites hold 19 cases (2 pending)
    Row { path: "captain/test/fixtures/cypress.xml", expect: Ok([19, 14, 3, 0, 2, 0]) },
    Row { path: "captain/test/fixtures/exunit.xml", expect: Ok([7, 4, 2, 0, 1, 0]) },
    // hand-made fixture: attrs say 0 failures/errors, the body has 1 failure, 2 errors
    Row { path: "captain/test/fixtures/junit-no-testsuites-element.xml", expect: Ok([72, 67, 1, 2, 2, 0]) },
    // hand-made fixture: attrs say 0 failures/errors, the body has 1 failure, 2 errors
    Row { path: "captain/test/fixtures/junit.xml", expect: Ok([72, 67, 1, 2, 2, 0]) },
    Row { path: "captain/test/fixtures/minitest.xml", expect: Ok([11, 5, 2, 2, 2, 0]) },
    // minitest counts errors in failures=2; 1 <failure> + 1 <error>
    Row { path: "captain/test/fixtures/minitest_junit.xml", expect: Ok([4, 1, 1, 1, 1, 0]) },
    Row { path: "captain/test/fixtures/phpunit.xml", expect: Ok([14, 4, 3, 3, 4, 0]) },
    Row { path: "captain/test/fixtures/unittest.xml", expect: Ok([5, 3, 1, 0, 1, 0]) },
    Row { path: "captain/test/fixtures/xunit_dot_net.xml", expect: Err("NotJunit") },
    // contains &#8; (invalid in XML 1.0), tolerated; attrs 9/3/1/1 agree
    Row { path: "dart-junitreport/tool/example.xml", expect: Ok([9, 4, 3, 1, 1, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/empty/java-junit.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/empty/jest-junit-empty-testsuite.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/empty/jest-junit.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/empty/phpunit-empty.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    // TestNG retry: attempt 1 skipped, retry failed -> one failed record (attrs count 2)
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/java/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/java/empty_failures.xml", expect: Ok([3, 2, 1, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/java/junit4-basic.xml", expect: Ok([6, 5, 1, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/java/junit4-complete.xml", expect: Ok([8, 5, 1, 1, 1, 0]) },
    // 808 elements; 8 TestNG retries (skipped then re-run) merged -> 800 records, 6 skipped
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/java/pulsar-test-report.xml", expect: Ok([800, 793, 1, 0, 6, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/jest/jest-react-component-test-results.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/jest/jest-test-results.xml", expect: Ok([4239, 4207, 2, 0, 30, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/phpunit/junit-basic.xml", expect: Ok([9, 8, 1, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/external/phpunit/phpcheckstyle-phpunit.xml", expect: Ok([30, 28, 2, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/jest-junit-eslint.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/jest-junit.xml", expect: Ok([6, 1, 4, 0, 1, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/junit-with-message.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/nette-tester/BootstrapFormRenderer-report.xml", expect: Ok([4, 4, 0, 0, 0, 0]) },
    // errors=1 attr but the one bad case is a <failure>
    Row { path: "dorny-test-reporter/__tests__/fixtures/nette-tester/tester-v1.7-report.xml", expect: Ok([65, 61, 1, 0, 3, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/phpunit/phpunit-paths.xml", expect: Ok([6, 0, 6, 0, 0, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/phpunit/phpunit.xml", expect: Ok([12, 10, 2, 0, 0, 0]) },
    // tests=15 counts pytest subtests; 10 <testcase>
    Row { path: "dorny-test-reporter/__tests__/fixtures/python-xunit-pytest.xml", expect: Ok([10, 6, 2, 0, 2, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/python-xunit-unittest.xml", expect: Ok([8, 4, 1, 1, 2, 0]) },
    Row { path: "dorny-test-reporter/__tests__/fixtures/swift-xunit.xml", expect: Ok([3, 2, 1, 0, 0, 0]) },
    // tests=0: jest-junit's 'Test suite failed to run' cases are real <error> cases
    Row { path: "dorny-test-reporter/__tests__/fixtures/test-errors/jest/jest-test-results.xml", expect: Ok([2, 0, 0, 2, 0, 0]) },
    Row { path: "enricomi/python/test/files/dart/json/tests.junit-xml", expect: Ok([20, 16, 1, 2, 1, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/bazel/suite-logs.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/empty-system-out-err.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/jest/jest-junit.xml", expect: Ok([2, 2, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/junit.multiresult.xml", expect: Ok([4, 1, 1, 1, 1, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/minimal-attributes.xml", expect: Ok([4, 1, 1, 1, 1, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/mocha/latex-utensils.xml", expect: Ok([109, 109, 0, 0, 0, 0]) },
    // 4 nameless cases: never merged (no identity)
    Row { path: "enricomi/python/test/files/junit-xml/no-attributes.xml", expect: Ok([4, 1, 1, 1, 1, 0]) },
    // attrs claim 6 tests; the file has no <testcase>
    Row { path: "enricomi/python/test/files/junit-xml/no-cases-but-tests.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/no-cases.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/non-junit.xml", expect: Err("NotJunit") },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/corrupt-xml.xml", expect: Err("Truncated") },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.fail.xml", expect: Ok([5, 3, 1, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.gloo.elastic.spark.tf.xml", expect: Ok([22, 20, 0, 0, 2, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.gloo.elastic.spark.torch.xml", expect: Ok([22, 22, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.gloo.elastic.xml", expect: Ok([14, 10, 0, 0, 4, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.gloo.standalone.xml", expect: Ok([97, 80, 0, 0, 17, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.gloo.static.xml", expect: Ok([24, 12, 0, 0, 12, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.mpi.integration.xml", expect: Ok([3, 3, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.mpi.standalone.xml", expect: Ok([97, 96, 0, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.mpi.static.xml", expect: Ok([24, 24, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/pytest/junit.spark.integration.1.xml", expect: Ok([35, 33, 0, 0, 2, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/scalatest/TEST-uk.co.gresearch.spark.diff.DiffOptionsSuite.xml", expect: Ok([5, 5, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/testsuite-in-testsuite.xml", expect: Ok([5, 5, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/testsuite-root.xml", expect: Ok([5, 5, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/tst/disabled.xml", expect: Ok([31, 6, 19, 1, 5, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/unsupported-unicode.xml", expect: Ok([7, 1, 2, 2, 2, 0]) },
    Row { path: "enricomi/python/test/files/junit-xml/with-xml-entities.xml", expect: Ok([4, 0, 1, 1, 2, 0]) },
    // root tests=173 from the full run; this trimmed fixture has 2 cases
    Row { path: "enricomi/python/test/files/junit-xml/xunit/xunit.xml", expect: Ok([2, 2, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/mocha/tests.junit-xml", expect: Ok([5, 2, 1, 1, 1, 0]) },
    Row { path: "enricomi/python/test/files/nunit/mstest/clicketyclackety.junit-xml", expect: Ok([23, 13, 10, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/nunit/mstest/pickles.junit-xml", expect: Ok([4, 3, 1, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/nunit/mstest/timewarpinc.junit-xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // converted NUnit: root attrs are NUnit's totals; 28 cases, 8 skipped (Ignored/Inconclusive/NotRunnable)
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-correct.junit-xml", expect: Ok([28, 18, 1, 1, 8, 0]) },
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-correct2.junit-xml", expect: Ok([218, 218, 0, 0, 0, 0]) },
    // converted NUnit totals (4) vs 3 <testcase>
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-failure.junit-xml", expect: Ok([3, 2, 1, 0, 0, 0]) },
    // converted NUnit totals (4) vs 3 <testcase>
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-ignored.junit-xml", expect: Ok([3, 1, 0, 0, 2, 0]) },
    // Inconclusive case converted to <skipped>; attrs say 0 skipped
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-issue33493.junit-xml", expect: Ok([2, 1, 0, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-issue44527.junit-xml", expect: Ok([150, 6, 144, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-issue50162.junit-xml", expect: Ok([6, 3, 3, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-issue5674.junit-xml", expect: Ok([9, 6, 3, 0, 0, 0]) },
    // attrs say skipped=2; one <skipped> in the body
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnit-issue6353.junit-xml", expect: Ok([3, 1, 1, 0, 1, 0]) },
    // converted NUnit totals (4) vs 1 <testcase>
    Row { path: "enricomi/python/test/files/nunit/nunit3/jenkins/NUnitUnicode.junit-xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/trx/mstest/pickles.junit-xml", expect: Ok([4, 3, 1, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/trx/nunit/FluentValidation.Tests.junit-xml", expect: Ok([804, 803, 0, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/trx/nunit/SilentNotes.junit-xml", expect: Ok([79, 67, 0, 0, 12, 0]) },
    Row { path: "enricomi/python/test/files/trx/xunit/dotnet-trx.junit-xml", expect: Ok([11, 5, 5, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/trx/xunit/xUnit-netcoreapp3.1-sample.junit-xml", expect: Ok([6, 2, 3, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/trx/yami_YAMILEX_2015-10-24_04_18_59.junit-xml", expect: Ok([25, 2, 2, 0, 21, 0]) },
    Row { path: "enricomi/python/test/files/xml/empty.xml", expect: Err("Empty") },
    Row { path: "enricomi/python/test/files/xml/non-xml.xml", expect: Err("NotXml") },
    // ShouldBeString x3 (generic instances) pass,pass,fail: not reruns -> 3 records
    Row { path: "enricomi/python/test/files/xunit/mstest/fixie.junit-xml", expect: Ok([7, 3, 3, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/xunit/mstest/jenkinsci/testcase1.junit-xml", expect: Ok([3, 1, 1, 0, 1, 0]) },
    Row { path: "enricomi/python/test/files/xunit/mstest/jenkinsci/testcase4.junit-xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/xunit/mstest/jenkinsci/testcase6.junit-xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "enricomi/python/test/files/xunit/mstest/pickles.junit-xml", expect: Ok([4, 3, 1, 0, 0, 0]) },
    Row { path: "go-junit-report/testdata/001-report.xml", expect: Ok([5, 2, 1, 0, 2, 0]) },
    Row { path: "go-junit-report/testdata/008-report.xml", expect: Ok([3, 0, 3, 0, 0, 0]) },
    Row { path: "go-junit-report/testdata/012-report.xml", expect: Ok([11, 6, 4, 0, 1, 0]) },
    Row { path: "go-junit-report/testdata/013-report.xml", expect: Ok([5, 2, 0, 3, 0, 0]) },
    Row { path: "go-junit-report/testdata/014-report.xml", expect: Ok([2, 0, 0, 2, 0, 0]) },
    Row { path: "go-junit-report/testdata/015-report.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "go-junit-report/testdata/017-report.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "go-junit-report/testdata/030-report.xml", expect: Ok([17, 8, 9, 0, 0, 0]) },
    Row { path: "go-junit-report/testdata/032-report.xml", expect: Ok([2, 1, 0, 1, 0, 0]) },
    Row { path: "go-junit-report/testdata/034-report.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "go-junit-report/testdata/036-report.xml", expect: Ok([3, 0, 2, 0, 1, 0]) },
    Row { path: "go-junit-report/testdata/038-report.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    Row { path: "go-junit-report/testdata/102-report.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    Row { path: "go-junit-report/testdata/104-report.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "go-junit-report/testdata/106-report.xml", expect: Ok([3, 2, 0, 1, 0, 0]) },
    Row { path: "go-junit-report/testdata/108-report.xml", expect: Ok([2, 1, 0, 1, 0, 0]) },
    Row { path: "go-junit-report/testdata/112-report.xml", expect: Ok([3, 0, 3, 0, 0, 0]) },
    // gotestsum's synthetic TestMain <failure> is counted as errors=1 and not in tests
    Row { path: "gotestsum/internal/junitxml/testdata/junitxml-report-hide-skipped-tests.golden", expect: Ok([55, 42, 13, 0, 0, 0]) },
    // gotestsum's synthetic TestMain <failure> is counted as errors=1 and not in tests
    Row { path: "gotestsum/internal/junitxml/testdata/junitxml-report-skip-empty.golden", expect: Ok([60, 42, 13, 0, 5, 0]) },
    Row { path: "gotestsum/internal/junitxml/testdata/junitxml-report-tc-with-attributes.golden", expect: Ok([1, 1, 0, 0, 0, 0]) },
    // gotestsum's synthetic TestMain <failure> is counted as errors=1 and not in tests
    Row { path: "gotestsum/internal/junitxml/testdata/junitxml-report.golden", expect: Ok([60, 42, 13, 0, 5, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-12457/TestSuite_a1.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-13214/27449.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-30413.xml", expect: Ok([2, 1, 1, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-41134/TestSuite_second.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-41134/TestSuite_second_dup_first.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // skipped=2 attr; 3 <skipped> in the body
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-42438/junit-report-1.xml", expect: Ok([11, 8, 0, 0, 3, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-48583/TEST-com.sample.test.TestMessage.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-48583/TEST-com.sample.test.TestMessage2.xml", expect: Ok([2, 2, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JENKINS-48583/TESTS-TestSuites.xml", expect: Ok([3, 3, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JUnitParserTest/TEST-hudson.model.ApiTest.xml", expect: Ok([7, 7, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JUnitParserTest/TEST-hudson.security.HudsonPrivateSecurityRealmTest.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/JUnitParserTest/TEST-hudson.slaves.EnvironmentVariableNodePropertyTest.xml", expect: Ok([7, 7, 0, 0, 0, 0]) },
    // attrs say skipped=1 but the case holds an <error>: error wins
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/SKIPPED_MESSAGE/afterSkippedResult.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/SKIPPED_MESSAGE/skippedTestResult.xml", expect: Ok([1, 0, 0, 0, 1, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/TEST-null.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/eclipse-plugin-test-report.xml", expect: Ok([3366, 3366, 0, 0, 0, 0]) },
    // Surefire counts each rerun (4); one test, <failure> + rerunFailure -> failed
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/gh-237/TEST-io.olamy.AlwaysFailTest.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // Surefire counts each run (3); one test passed after flakyFailures -> flaky
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/gh-237/TEST-io.olamy.FlakyTest.xml", expect: Ok([1, 1, 0, 0, 0, 1]) },
    // tests=456 from the original run; 5 cases kept in the fixture
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-1233.xml", expect: Ok([5, 5, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-1463.xml", expect: Ok([6, 6, 0, 0, 0, 0]) },
    // TAP->JUnit: attrs 2654/2 vs 2653 cases, 1 failure
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-1472.xml", expect: Ok([2653, 2652, 1, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-20090516.xml", expect: Ok([8, 5, 0, 3, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-2874.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-494.xml", expect: Ok([2, 1, 1, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-6700.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    // same test twice, both passed: not a rerun (first passed) -> 2 records
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-bad-duration.xml", expect: Ok([2, 2, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-empty-testcasename.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // tests=2 includes the suite-level error; one (suite) error record
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-errror-details.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-huge.xml", expect: Ok([7580, 5131, 19, 0, 2430, 1]) },
    // root tests=186 is bogus; 2 cases + 1 suite-level <error> record
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-nested-testsuites.xml", expect: Ok([3, 2, 0, 1, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-testsuite-time-attrs.xml", expect: Ok([8, 8, 0, 0, 0, 0]) },
    // attrs 8 vs 12 <testcase> in the body
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-testsuite-various-timestamps.xml", expect: Ok([12, 12, 0, 0, 0, 0]) },
    // attrs 2 vs 3 <testcase> in the body
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-time-aggregation.xml", expect: Ok([3, 3, 0, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/junit-report-with-properties.xml", expect: Ok([2, 1, 1, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/pipeline/ageReset-1.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/pipeline/junit-report-testTrends-first-3.xml", expect: Ok([8, 5, 0, 3, 0, 0]) },
    Row { path: "jenkins-junit-plugin/src/test/resources/hudson/tasks/junit/testXxe-xxe.xml", expect: Err("EntityDeclaration") },
    Row { path: "junit2html/tests/junit-axis-linux.xml", expect: Ok([3, 2, 1, 0, 0, 0]) },
    Row { path: "junit2html/tests/junit-axis-windows.xml", expect: Ok([3, 2, 0, 0, 1, 0]) },
    Row { path: "junit2html/tests/junit-complex_suites.xml", expect: Ok([685, 685, 0, 0, 0, 0]) },
    Row { path: "junit2html/tests/junit-cute2.xml", expect: Ok([43, 39, 4, 0, 0, 0]) },
    Row { path: "junit2html/tests/junit-jenkins-stdout.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // jasmine attrs 3/1/1; one failing case present
    Row { path: "junit2html/tests/junit-simple_suite.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // jasmine attrs 3/1/1; one failing case present
    Row { path: "junit2html/tests/junit-simple_suites.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // ginkgo counts only run specs (5); 705 skipped specs are listed too
    Row { path: "junit2html/tests/junit-sonobouy.xml", expect: Ok([710, 4, 1, 0, 705, 0]) },
    // <testrun> totals from the full run; 7 cases kept
    Row { path: "junit2html/tests/junit-testrun.xml", expect: Ok([7, 7, 0, 0, 0, 0]) },
    Row { path: "junit2html/tests/junit-unicode.xml", expect: Ok([2, 1, 1, 0, 0, 0]) },
    // tests=2 vs 1 <testcase>
    Row { path: "junit2html/tests/junit-unicode2.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    // trimmed fixture: 1 case of 3121
    Row { path: "junit2html/tests/pytest-binary-names.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "junitparser/tests/data/jenkins.xml", expect: Ok([3, 1, 1, 0, 1, 0]) },
    // failures=1 attr; the body has only a skip
    Row { path: "junitparser/tests/data/no_fails.xml", expect: Ok([3, 2, 0, 0, 1, 0]) },
    Row { path: "junitparser/tests/data/no_suites_tag.xml", expect: Ok([3, 1, 1, 0, 1, 0]) },
    Row { path: "junitparser/tests/data/normal.xml", expect: Ok([3, 1, 1, 0, 1, 0]) },
    Row { path: "junitparser/tests/data/pytest_error.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "junitparser/tests/data/pytest_success.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/catch2/report.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // tests=8 vs 3 cases; 999638317 s durations are rejected as implausible
    Row { path: "mikepenz-action-junit-report/test_results/container-structure/test.xml", expect: Ok([3, 3, 0, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/corrupt-junit/e2e-tests/corrupt/target/sf-reports/TEST-test.CorruptTest.xml", expect: Err("Truncated") },
    Row { path: "mikepenz-action-junit-report/test_results/cunit/testEmpty.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/cunit/testFailure.xml", expect: Ok([4, 3, 1, 0, 0, 0]) },
    // 3 attempts fail/fail/error merged -> 1 error record, not flaky
    Row { path: "mikepenz-action-junit-report/test_results/flaky_retries/flaky_all_failures.xml", expect: Ok([1, 0, 0, 1, 0, 0]) },
    // pass then fail/error: a case after a pass is not a rerun -> passed + error(with failed attempt); mikepenz calls it 1 flaky
    Row { path: "mikepenz-action-junit-report/test_results/flaky_retries/flaky_success_first.xml", expect: Ok([2, 1, 0, 1, 0, 0]) },
    // test_foo failure, error, pass merged -> 1 flaky pass; plus 2 other passes
    Row { path: "mikepenz-action-junit-report/test_results/flaky_retries/flaky_with_classname_file.xml", expect: Ok([3, 3, 0, 0, 0, 1]) },
    Row { path: "mikepenz-action-junit-report/test_results/issues/testDisabled.xml", expect: Ok([22, 6, 4, 2, 10, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/issues/testFailedDisabled.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // gotestsum: tests=3 excludes the skipped case
    Row { path: "mikepenz-action-junit-report/test_results/junit-server-test/report.xml", expect: Ok([4, 2, 1, 0, 1, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/junit_flaky_failure/marathon_junit_report.xml", expect: Ok([1, 1, 0, 0, 0, 1]) },
    Row { path: "mikepenz-action-junit-report/test_results/junit_flaky_failure/mixed_flaky_and_passed.xml", expect: Ok([3, 3, 0, 0, 0, 1]) },
    Row { path: "mikepenz-action-junit-report/test_results/marathon_tests/com.mikepenz.DummyTest3#test_01.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/marathon_tests/com.mikepenz.DummyUtilTest#test_01_dummy.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/maven_surefire_flaky/surefire-report.xml", expect: Ok([1, 1, 0, 0, 0, 1]) },
    // trimmed fixture: 1 case of 15515
    Row { path: "mikepenz-action-junit-report/test_results/mocha/mocha.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    // tests=8 vs 3 cases
    Row { path: "mikepenz-action-junit-report/test_results/multiple/test_12.xml", expect: Ok([3, 2, 0, 0, 1, 0]) },
    // attrs count <error> elements (3) in 2 cases; failures=1 has no element
    Row { path: "mikepenz-action-junit-report/test_results/multiple_failures/test_multiple_errors.xml", expect: Ok([3, 1, 0, 2, 0, 0]) },
    // attrs count <failure> elements (4) in 2 cases
    Row { path: "mikepenz-action-junit-report/test_results/multiple_failures/test_multiple_failures.xml", expect: Ok([4, 1, 2, 0, 1, 0]) },
    // attrs 4/0 vs 5 cases with 3 failures
    Row { path: "mikepenz-action-junit-report/test_results/nested/junit.xml", expect: Ok([5, 2, 3, 0, 0, 0]) },
    // tests=57 vs 3 cases
    Row { path: "mikepenz-action-junit-report/test_results/nested/multi-level.xml", expect: Ok([3, 3, 0, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/nextest/basic.xml", expect: Ok([3, 2, 1, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/perl/result.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/python/report.xml", expect: Ok([3, 1, 2, 0, 0, 0]) },
    // tests=3 vs 4 cases
    Row { path: "mikepenz-action-junit-report/test_results/python/report_flaky.xml", expect: Ok([4, 2, 2, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/tests/email/target/surefire-reports/TEST-action.surefire.report.email.EmailAddressTest.xml", expect: Ok([9, 2, 2, 5, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/tests/utils/target/surefire-reports/TEST-action.surefire.report.calc.AllOkTest.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/tests/utils/target/surefire-reports/TEST-action.surefire.report.calc.CalcUtilsTest.xml", expect: Ok([2, 0, 2, 0, 0, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/tests/utils/target/surefire-reports/TEST-action.surefire.report.calc.StringUtilsTest.xml", expect: Ok([5, 2, 2, 0, 1, 0]) },
    Row { path: "mikepenz-action-junit-report/test_results/xunit/report.xml", expect: Ok([4, 3, 1, 0, 0, 0]) },
    Row { path: "nextest/fixtures/fixture-project-junit.xml", expect: Ok([3, 2, 1, 0, 0, 1]) },
    Row { path: "nextest/fixtures/setup-script-junit.xml", expect: Ok([1, 1, 0, 0, 0, 0]) },
    Row { path: "nextest/fixtures/stress-test-junit.xml", expect: Ok([4, 4, 0, 0, 0, 0]) },
    Row { path: "test-summary-action/test/resources/junit/01-common.xml", expect: Ok([8, 7, 1, 0, 0, 0]) },
    // mocha reports a timed-out test twice (2 failures) -> merged into 1 failed record
    Row { path: "test-summary-action/test/resources/junit/02-example.xml", expect: Ok([29, 21, 8, 0, 0, 0]) },
    Row { path: "test-summary-action/test/resources/junit/03-junit.xml", expect: Ok([10, 4, 4, 0, 2, 0]) },
    Row { path: "test-summary-action/test/resources/junit/04-bazel-junit.xml", expect: Ok([2, 1, 0, 1, 0, 0]) },
    Row { path: "test-summary-action/test/resources/junit/05-empty.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "test-summary-action/test/resources/junit/06-empty.xml", expect: Ok([0, 0, 0, 0, 0, 0]) },
    Row { path: "test-summary-action/test/resources/junit/07-no-failure-message.xml", expect: Ok([10, 4, 4, 0, 2, 0]) },
    Row { path: "test-summary-action/test/resources/junit/08-failure-noattr-only-innertext.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // Codeception failures=10 counts failed steps; 3 <failure>
    Row { path: "testomatio-reporter/tests/unit/data/codecept.xml", expect: Ok([89, 84, 3, 0, 2, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/csharp_tid.xml", expect: Ok([2, 1, 1, 0, 0, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/java.xml", expect: Ok([6, 4, 2, 0, 0, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/junit1.xml", expect: Ok([13, 11, 2, 0, 0, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/junit2.xml", expect: Ok([4, 4, 0, 0, 0, 0]) },
    // tests=1 vs 2 cases
    Row { path: "testomatio-reporter/tests/unit/data/junit_skipped.xml", expect: Ok([2, 0, 1, 0, 1, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/minitest.xml", expect: Ok([10, 10, 0, 0, 0, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/phpunit.xml", expect: Ok([22, 19, 2, 0, 1, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/pytest.xml", expect: Ok([7, 6, 1, 0, 0, 0]) },
    Row { path: "testomatio-reporter/tests/unit/data/selenide.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    // attrs 1/1 vs 2 failing cases
    Row { path: "trunk-analytics-cli/cli/test_fixtures/junit1_fail.xml", expect: Ok([2, 0, 2, 0, 0, 0]) },
    Row { path: "trunk-analytics-cli/xcresult/tests/data/test-ExpectedFailures.junit.xml", expect: Ok([52, 27, 25, 0, 0, 0]) },
    Row { path: "trunk-analytics-cli/xcresult/tests/data/test-swift-mix.junit.xml", expect: Ok([4, 2, 2, 0, 0, 0]) },
    Row { path: "trunk-analytics-cli/xcresult/tests/data/test-swift-snapshot-testing.junit.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "trunk-analytics-cli/xcresult/tests/data/test-swift-without-test-suites.junit.xml", expect: Ok([2, 1, 1, 0, 0, 0]) },
    Row { path: "trunk-analytics-cli/xcresult/tests/data/test1.junit.xml", expect: Ok([17, 17, 0, 0, 0, 0]) },
    Row { path: "trunk-analytics-cli/xcresult/tests/data/test4.junit.xml", expect: Ok([452, 450, 1, 0, 1, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/XUnitChecksPublisherTest/workspace/someFailed/input.xml", expect: Ok([4, 2, 1, 1, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/XUnitWorkflowTest/workspace/JENKINS-52202/file1/TEST-de.edict.services.portaltests.SlotSessionTest_ES.xml", expect: Ok([11, 10, 0, 1, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/XUnitWorkflowTest/workspace/JENKINS-52202/file2/TEST-de.edict.services.backofficetests.bonusoffer.BonusOfferDepositTests--IoM_default.xml", expect: Ok([15, 14, 1, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/aunit/testcase2/result.xml", expect: Ok([64, 37, 25, 2, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/boosttest/testcase1/result.xml", expect: Ok([3, 1, 1, 1, 0, 0]) },
    // XSLT attrs 129/4 vs 131 cases, 3 failures; same-named data cases after a pass stay separate
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/boosttest/testcase12/result.xml", expect: Ok([131, 128, 3, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/boosttest/testcase17/result.xml", expect: Ok([4, 3, 1, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/boosttest/testcase25/result.xml", expect: Ok([291, 291, 0, 0, 0, 0]) },
    // the XSLT repeats the child suite's cases in the parent suite: 9 <testcase>
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/boosttest/testcase4/result.xml", expect: Ok([9, 5, 0, 4, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/check/testcase2/result.xml", expect: Ok([5, 2, 3, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/cpptest/testcase2/result.xml", expect: Ok([122, 112, 10, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/cppunit/testcase1/result.xml", expect: Ok([5, 4, 1, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/cppunit/testcase4/result.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/ctest/testcase1/result.xml", expect: Ok([11, 7, 4, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/ctest/testcase2/result.xml", expect: Ok([1, 0, 0, 0, 1, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/ctest/testcase3/result.xml", expect: Ok([2, 1, 0, 0, 1, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/ctest/testcase4/result.xml", expect: Ok([18, 18, 0, 0, 0, 0]) },
    // attrs count failures only; 2 passes present too
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/cunit/testcase4/result.xml", expect: Ok([4, 2, 2, 0, 0, 0]) },
    // attrs count failures only; 4 passes present too
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/cunit/testcase5/result.xml", expect: Ok([8, 4, 4, 0, 0, 0]) },
    // XSLT attrs double-count; 8 failing cases
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/fpcunit/testcase2/result.xml", expect: Ok([8, 0, 8, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/googletest/testcase1/input.xml", expect: Ok([3, 3, 0, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/googletest/testcase2/input.xml", expect: Ok([4, 1, 2, 0, 1, 0]) },
    // nosetests input: tests=3 vs 4 cases
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/googletest/testcase3/input.xml", expect: Ok([4, 4, 0, 0, 0, 0]) },
    // disabled=2 plus one GTEST_SKIP (result=skipped) -> 3 skipped
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/googletest/testcase4/input.xml", expect: Ok([24, 17, 4, 0, 3, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/googletest/testcase4/result.xml", expect: Ok([24, 17, 4, 0, 3, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/gtester/testcase1/result.xml", expect: Ok([15, 3, 1, 0, 11, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/junit/testcase3/input.xml", expect: Ok([32, 31, 0, 1, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/junit/testcase5/input.xml", expect: Ok([6, 5, 1, 0, 0, 0]) },
    // Surefire counts every run (11/9); 3 tests: 1 flaky pass, 1 pass, 1 failed after reruns
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/junit/testcase6/input.xml", expect: Ok([3, 2, 1, 0, 0, 1]) },
    // errors=2 attr duplicates failures=2
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/mbunit/testcase1/result.xml", expect: Ok([4, 2, 2, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/mstest/testcase6/result.xml", expect: Ok([15, 13, 1, 0, 1, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/nunit/testcase14/result.xml", expect: Ok([297, 295, 0, 0, 2, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/nunit/testcase8/result.xml", expect: Ok([28, 19, 1, 4, 4, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/nunit3/testcase3/result.xml", expect: Ok([18, 12, 2, 1, 3, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/nunit3/testcase5/result.xml", expect: Ok([19, 0, 19, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/phpunit/testcase10/input.xml", expect: Ok([22, 21, 0, 1, 0, 0]) },
    // Codeception attrs 22 vs 24 cases
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/phpunit/testcase11/input.xml", expect: Ok([24, 23, 0, 1, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/phpunit/testcase2/input.xml", expect: Ok([4, 3, 1, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/phpunit/testcase8/input.xml", expect: Ok([2, 0, 0, 0, 2, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/qtestlib/testcase1/result.xml", expect: Ok([118, 118, 0, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/qtestlib/testcase4/result.xml", expect: Ok([5, 3, 2, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/tusar/testcase1/junit-result.xml", expect: Ok([16, 16, 0, 0, 0, 0]) },
    // errors attr duplicates failures
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/unittest++/testcase1/result.xml", expect: Ok([3, 2, 1, 0, 0, 0]) },
    // errors attr duplicates failures
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/unittest++/testcase3/result.xml", expect: Ok([106, 102, 4, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/valgrind/testcase1/result.xml", expect: Ok([1, 0, 1, 0, 0, 0]) },
    Row { path: "xunit-plugin/src/test/resources/org/jenkinsci/plugins/xunit/types/xunitdotnet/testcase1/result.xml", expect: Ok([3, 1, 1, 0, 1, 0]) },
];

fn corpus_dir() -> PathBuf {
    match std::env::var_os("FLAKEWATCH_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/junit-corpus"),
    }
}

fn corpus_files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("corpus dir readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel != "SOURCES.md" && rel != "MANIFEST.tsv" {
                    out.insert(rel);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Empty => "Empty",
        ErrorKind::NotXml { .. } => "NotXml",
        ErrorKind::Html => "Html",
        ErrorKind::NotJunit { .. } => "NotJunit",
        ErrorKind::Truncated { .. } => "Truncated",
        ErrorKind::Malformed { .. } => "Malformed",
        ErrorKind::EntityDeclaration => "EntityDeclaration",
        ErrorKind::TooDeep { .. } => "TooDeep",
        ErrorKind::TokenTooLarge { .. } => "TokenTooLarge",
        ErrorKind::TooLarge { .. } => "TooLarge",
        ErrorKind::Gzip { .. } => "Gzip",
        ErrorKind::Io { .. } => "Io",
    }
}

fn counts(s: &Summary) -> [u64; 6] {
    [
        s.tests,
        s.passed,
        s.failed,
        s.errors,
        s.skipped,
        s.flaky_in_run,
    ]
}

#[test]
fn table_covers_every_corpus_file() {
    let dir = corpus_dir();
    let on_disk = corpus_files(&dir);
    let in_table: BTreeSet<String> = TABLE.iter().map(|r| r.path.to_owned()).collect();
    assert_eq!(in_table.len(), TABLE.len(), "duplicate rows in TABLE");
    let missing: Vec<_> = on_disk.difference(&in_table).collect();
    let stale: Vec<_> = in_table.difference(&on_disk).collect();
    assert!(
        missing.is_empty(),
        "corpus files without a row in TABLE (count them by hand and add them): {missing:#?}"
    );
    assert!(
        stale.is_empty(),
        "TABLE rows for files not in the corpus: {stale:#?}"
    );
}

#[test]
fn every_corpus_file_reads_as_expected() {
    let dir = corpus_dir();
    let mut failures = Vec::new();
    for row in TABLE {
        let bytes = std::fs::read(dir.join(row.path)).expect("corpus file readable");
        let got = parse_all(bytes.as_slice(), row.path, ParseOptions::default());
        match (&row.expect, got) {
            (Ok(want), Ok(report)) => {
                let have = counts(&report.summary);
                if &have != want {
                    failures.push(format!("{}: want {want:?}, got {have:?}", row.path));
                }
                let cases = report.cases.len() as u64;
                if cases != report.summary.tests {
                    failures.push(format!("{}: summary disagrees with records", row.path));
                }
            }
            (Err(kind), Err(e)) => {
                if kind_name(&e.kind) != *kind {
                    failures.push(format!("{}: want {kind}, got {e}", row.path));
                }
                assert!(
                    e.to_string().starts_with(row.path),
                    "error names the file: {e}"
                );
            }
            (want, Ok(report)) => failures.push(format!(
                "{}: want {want:?}, got {:?}",
                row.path,
                counts(&report.summary)
            )),
            (want, Err(e)) => failures.push(format!("{}: want {want:?}, got error {e}", row.path)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same bytes gzipped must read the same.
#[test]
fn gzipped_corpus_files_read_the_same() {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let dir = corpus_dir();
    for row in TABLE.iter().filter(|r| r.expect.is_ok()).step_by(9) {
        let bytes = std::fs::read(dir.join(row.path)).unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&bytes).unwrap();
        let gz = gz.finish().unwrap();
        let plain = parse_all(bytes.as_slice(), row.path, ParseOptions::default()).unwrap();
        let zipped = parse_all(gz.as_slice(), row.path, ParseOptions::default()).unwrap();
        assert_eq!(plain.cases, zipped.cases, "{}", row.path);
    }
}
