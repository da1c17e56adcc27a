//! What the CI system tells a job about itself: branch, commit, job, attempt, pipeline,
//! build URL, runner, the repository's default branch and when the job started, read from
//! its environment variables (and, on GitHub Actions, the event payload file).
//!
//! A pure function over an environment map, so every provider is tested without touching
//! the process environment. Flags given on the command line win over what is found here.

use std::collections::HashMap;
use std::fmt;

/// The CI systems whose variables we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiProvider {
    GitHubActions,
    GitLabCi,
    Jenkins,
    Buildkite,
    CircleCi,
}

impl fmt::Display for CiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CiProvider::GitHubActions => "GitHub Actions",
            CiProvider::GitLabCi => "GitLab CI",
            CiProvider::Jenkins => "Jenkins",
            CiProvider::Buildkite => "Buildkite",
            CiProvider::CircleCi => "CircleCI",
        })
    }
}

/// What one CI job says about itself; any part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiContext {
    pub provider: Option<CiProvider>,
    /// For a pull or merge request, its source branch, not the synthetic merge ref.
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub job: Option<String>,
    /// 1 for the first run of a job, 2 for its first retry, ...
    pub attempt: Option<u32>,
    pub pipeline: Option<String>,
    pub build_url: Option<String>,
    pub runner: Option<String>,
    /// The repository's default branch (what "broken on the default branch" means).
    pub default_branch: Option<String>,
    /// When the job started, RFC 3339, where the CI system says.
    pub started_at: Option<String>,
    /// GitHub Actions: the event payload file, which names the default branch.
    pub event_path: Option<String>,
}

/// `detect`, plus what the GitHub Actions event payload file says of the default branch.
pub fn read(env: &HashMap<String, String>) -> CiContext {
    let mut ci = detect(env);
    if ci.default_branch.is_none() {
        if let Some(path) = &ci.event_path {
            let payload = std::fs::read_to_string(path).unwrap_or_default();
            ci.default_branch = default_branch_of_event(&payload);
        }
    }
    ci
}

/// `repository.default_branch` of a GitHub event payload (push, pull_request, schedule...).
pub fn default_branch_of_event(payload: &str) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(payload).ok()?;
    event["repository"]["default_branch"]
        .as_str()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
}

/// Reads the CI context from `env`; all fields are `None` outside a known CI system.
pub fn detect(env: &HashMap<String, String>) -> CiContext {
    let var = |name: &str| {
        env.get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let is_true = |name: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));

    if is_true("GITHUB_ACTIONS") {
        github_actions(&var)
    } else if is_true("GITLAB_CI") {
        gitlab_ci(&var)
    } else if is_true("BUILDKITE") {
        buildkite(&var)
    } else if is_true("CIRCLECI") {
        circleci(&var)
    } else if var("JENKINS_URL").is_some() || var("JENKINS_HOME").is_some() {
        jenkins(&var)
    } else {
        CiContext::default()
    }
}

type Var<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn github_actions(var: &Var) -> CiContext {
    // On pull_request events GITHUB_REF_NAME is `123/merge`; GITHUB_HEAD_REF is the source
    // branch, and it is set (non-empty) only on those events.
    let branch = var("GITHUB_HEAD_REF").or_else(|| var("GITHUB_REF_NAME"));
    // Workflow and job id together: two workflows may both have a job called `test`.
    let job = match (var("GITHUB_WORKFLOW"), var("GITHUB_JOB")) {
        (Some(workflow), Some(job)) => Some(format!("{workflow}/{job}")),
        (workflow, job) => job.or(workflow),
    };
    let build_url = match (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repo), Some(run)) => Some(format!(
            "{}/{repo}/actions/runs/{run}",
            server.trim_end_matches('/')
        )),
        _ => None,
    };
    CiContext {
        provider: Some(CiProvider::GitHubActions),
        branch,
        // On pull_request events this is the merge commit GitHub built: the code tested.
        commit: var("GITHUB_SHA"),
        job,
        attempt: var("GITHUB_RUN_ATTEMPT").and_then(|n| n.parse().ok()),
        pipeline: var("GITHUB_RUN_ID"),
        build_url,
        runner: var("RUNNER_NAME"),
        default_branch: None,
        started_at: None,
        event_path: var("GITHUB_EVENT_PATH"),
    }
}

fn gitlab_ci(var: &Var) -> CiContext {
    // Merge-request pipelines name the source branch; branch pipelines CI_COMMIT_BRANCH;
    // tag pipelines only CI_COMMIT_REF_NAME.
    let branch = var("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        .or_else(|| var("CI_COMMIT_BRANCH"))
        .or_else(|| var("CI_COMMIT_REF_NAME"));
    CiContext {
        provider: Some(CiProvider::GitLabCi),
        branch,
        commit: var("CI_COMMIT_SHA"),
        job: var("CI_JOB_NAME"),
        // GitLab has no retry counter: a retried job is a new job with a new id.
        attempt: None,
        pipeline: var("CI_PIPELINE_ID"),
        build_url: var("CI_JOB_URL"),
        runner: var("CI_RUNNER_DESCRIPTION").or_else(|| var("CI_RUNNER_ID")),
        default_branch: var("CI_DEFAULT_BRANCH"),
        started_at: var("CI_JOB_STARTED_AT"),
        event_path: None,
    }
}

fn jenkins(var: &Var) -> CiContext {
    // Multibranch pull-request builds: BRANCH_NAME is `PR-12`, CHANGE_BRANCH the source.
    // Freestyle jobs with the Git plugin only have GIT_BRANCH, as `origin/main`.
    let branch = var("CHANGE_BRANCH")
        .or_else(|| var("BRANCH_NAME"))
        .or_else(|| var("GIT_BRANCH").map(|b| strip_remote(&b).to_owned()));
    CiContext {
        provider: Some(CiProvider::Jenkins),
        branch,
        commit: var("GIT_COMMIT"),
        job: var("JOB_NAME"),
        attempt: None,
        pipeline: var("BUILD_NUMBER"),
        build_url: var("BUILD_URL"),
        runner: var("NODE_NAME"),
        ..CiContext::default()
    }
}

/// `origin/main` -> `main`, `refs/remotes/origin/main` -> `main`; a plain name stays.
fn strip_remote(branch: &str) -> &str {
    let branch = branch.strip_prefix("refs/remotes/").unwrap_or(branch);
    let branch = branch.strip_prefix("refs/heads/").unwrap_or(branch);
    branch.strip_prefix("origin/").unwrap_or(branch)
}

fn buildkite(var: &Var) -> CiContext {
    let build_url = match (var("BUILDKITE_BUILD_URL"), var("BUILDKITE_JOB_ID")) {
        (Some(build), Some(job)) => Some(format!("{build}#{job}")),
        (build, _) => build,
    };
    CiContext {
        provider: Some(CiProvider::Buildkite),
        // For pull requests Buildkite already gives the PR's source branch here.
        branch: var("BUILDKITE_BRANCH"),
        // `HEAD` until the agent has checked out and resolved the commit.
        commit: var("BUILDKITE_COMMIT").filter(|c| c != "HEAD"),
        job: var("BUILDKITE_LABEL").or_else(|| var("BUILDKITE_STEP_KEY")),
        // BUILDKITE_RETRY_COUNT is 0 on the first run.
        attempt: var("BUILDKITE_RETRY_COUNT")
            .and_then(|n| n.parse::<u32>().ok())
            .map(|n| n.saturating_add(1)),
        pipeline: var("BUILDKITE_BUILD_ID"),
        build_url,
        runner: var("BUILDKITE_AGENT_NAME"),
        default_branch: var("BUILDKITE_PIPELINE_DEFAULT_BRANCH"),
        ..CiContext::default()
    }
}

fn circleci(var: &Var) -> CiContext {
    CiContext {
        provider: Some(CiProvider::CircleCi),
        branch: var("CIRCLE_BRANCH"),
        commit: var("CIRCLE_SHA1"),
        job: var("CIRCLE_JOB"),
        // A rerun is a new build number; CircleCI exposes no attempt counter.
        attempt: None,
        pipeline: var("CIRCLE_WORKFLOW_ID"),
        build_url: var("CIRCLE_BUILD_URL"),
        ..CiContext::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    const GITHUB_PUSH: &[(&str, &str)] = &[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_SHA", "a1b2c3"),
        ("GITHUB_WORKFLOW", "CI"),
        ("GITHUB_JOB", "test"),
        ("GITHUB_RUN_ID", "9001"),
        ("GITHUB_RUN_ATTEMPT", "2"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("RUNNER_NAME", "GitHub Actions 7"),
    ];

    #[test]
    fn github_actions_push() {
        assert_eq!(
            detect(&env(GITHUB_PUSH)),
            CiContext {
                provider: Some(CiProvider::GitHubActions),
                branch: s("main"),
                commit: s("a1b2c3"),
                job: s("CI/test"),
                attempt: Some(2),
                pipeline: s("9001"),
                build_url: s("https://github.com/acme/shop/actions/runs/9001"),
                runner: s("GitHub Actions 7"),
                ..CiContext::default()
            }
        );
    }

    #[test]
    fn github_default_branch_comes_from_the_event_payload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("event.json");
        std::fs::write(
            &path,
            r#"{"ref": "refs/heads/feature", "repository": {"full_name": "acme/shop", "default_branch": "trunk"}}"#,
        )
        .unwrap();
        let mut vars = env(GITHUB_PUSH);
        vars.insert("GITHUB_EVENT_PATH".into(), path.display().to_string());
        assert_eq!(read(&vars).default_branch, s("trunk"));
        // A missing or odd payload names nothing, and is no error.
        assert_eq!(default_branch_of_event("not json"), None);
        assert_eq!(default_branch_of_event(r#"{"repository": {}}"#), None);
        vars.insert("GITHUB_EVENT_PATH".into(), "/nonexistent/event.json".into());
        assert_eq!(read(&vars).default_branch, None);
    }

    #[test]
    fn github_actions_pull_request_uses_the_head_branch() {
        let mut vars = env(GITHUB_PUSH);
        vars.insert("GITHUB_REF_NAME".into(), "42/merge".into());
        vars.insert("GITHUB_HEAD_REF".into(), "feature/login".into());
        let found = detect(&vars);
        assert_eq!(found.branch, s("feature/login"));
        assert_eq!(found.commit, s("a1b2c3"));
    }

    #[test]
    fn gitlab_branch_and_merge_request_pipelines() {
        let mut vars = env(&[
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_COMMIT_SHA", "deadbeef"),
            ("CI_JOB_NAME", "rspec 1/4"),
            ("CI_PIPELINE_ID", "555"),
            ("CI_JOB_URL", "https://gitlab.example.com/g/p/-/jobs/77"),
            ("CI_RUNNER_DESCRIPTION", "shared-runner-3"),
            ("CI_DEFAULT_BRANCH", "master"),
            ("CI_JOB_STARTED_AT", "2026-11-26T10:00:00Z"),
        ]);
        assert_eq!(
            detect(&vars),
            CiContext {
                provider: Some(CiProvider::GitLabCi),
                branch: s("main"),
                commit: s("deadbeef"),
                job: s("rspec 1/4"),
                attempt: None,
                pipeline: s("555"),
                build_url: s("https://gitlab.example.com/g/p/-/jobs/77"),
                runner: s("shared-runner-3"),
                default_branch: s("master"),
                started_at: s("2026-11-26T10:00:00Z"),
                event_path: None,
            }
        );

        // A merge-request pipeline has no CI_COMMIT_BRANCH and a ref like refs/merge-requests/.
        vars.remove("CI_COMMIT_BRANCH");
        vars.insert(
            "CI_COMMIT_REF_NAME".into(),
            "refs/merge-requests/9/head".into(),
        );
        vars.insert(
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME".into(),
            "fix-timeouts".into(),
        );
        assert_eq!(detect(&vars).branch, s("fix-timeouts"));
    }

    #[test]
    fn jenkins_branch_sources_in_order() {
        let base = [
            ("JENKINS_URL", "https://ci.example.com/"),
            ("GIT_COMMIT", "cafe01"),
            ("JOB_NAME", "shop/main"),
            ("BUILD_NUMBER", "314"),
            ("BUILD_URL", "https://ci.example.com/job/shop/314/"),
            ("NODE_NAME", "agent-2"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut vars = env(&base);
            vars.extend(env(extra));
            detect(&vars)
        };

        let freestyle = with(&[("GIT_BRANCH", "origin/release/2.0")]);
        assert_eq!(
            freestyle,
            CiContext {
                provider: Some(CiProvider::Jenkins),
                branch: s("release/2.0"),
                commit: s("cafe01"),
                job: s("shop/main"),
                attempt: None,
                pipeline: s("314"),
                build_url: s("https://ci.example.com/job/shop/314/"),
                runner: s("agent-2"),
                ..CiContext::default()
            }
        );
        let multibranch = with(&[("BRANCH_NAME", "main"), ("GIT_BRANCH", "origin/main")]);
        assert_eq!(multibranch.branch, s("main"));
        let pull_request = with(&[
            ("BRANCH_NAME", "PR-12"),
            ("CHANGE_BRANCH", "feature/cart"),
            ("GIT_BRANCH", "PR-12"),
        ]);
        assert_eq!(pull_request.branch, s("feature/cart"));
        assert_eq!(
            with(&[("GIT_BRANCH", "refs/remotes/origin/dev")]).branch,
            s("dev")
        );
    }

    #[test]
    fn buildkite_attempt_counts_from_one() {
        let found = detect(&env(&[
            ("BUILDKITE", "true"),
            ("BUILDKITE_BRANCH", "feature/pay"),
            ("BUILDKITE_COMMIT", "0badc0de"),
            ("BUILDKITE_LABEL", ":rspec: unit"),
            ("BUILDKITE_RETRY_COUNT", "2"),
            ("BUILDKITE_BUILD_ID", "0190-uuid"),
            (
                "BUILDKITE_BUILD_URL",
                "https://buildkite.com/acme/shop/builds/88",
            ),
            ("BUILDKITE_JOB_ID", "0191-job"),
            ("BUILDKITE_AGENT_NAME", "bk-agent-1"),
        ]));
        assert_eq!(
            found,
            CiContext {
                provider: Some(CiProvider::Buildkite),
                branch: s("feature/pay"),
                commit: s("0badc0de"),
                job: s(":rspec: unit"),
                attempt: Some(3),
                pipeline: s("0190-uuid"),
                build_url: s("https://buildkite.com/acme/shop/builds/88#0191-job"),
                runner: s("bk-agent-1"),
                ..CiContext::default()
            }
        );
        let first_run = detect(&env(&[
            ("BUILDKITE", "true"),
            ("BUILDKITE_RETRY_COUNT", "0"),
            ("BUILDKITE_COMMIT", "HEAD"),
        ]));
        assert_eq!(first_run.attempt, Some(1));
        assert_eq!(first_run.commit, None, "HEAD is not a commit");
    }

    #[test]
    fn circleci() {
        let found = detect(&env(&[
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", "feed42"),
            ("CIRCLE_JOB", "test-linux"),
            ("CIRCLE_WORKFLOW_ID", "wf-1"),
            ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/shop/123"),
        ]));
        assert_eq!(
            found,
            CiContext {
                provider: Some(CiProvider::CircleCi),
                branch: s("main"),
                commit: s("feed42"),
                job: s("test-linux"),
                attempt: None,
                pipeline: s("wf-1"),
                build_url: s("https://circleci.com/gh/acme/shop/123"),
                runner: None,
                ..CiContext::default()
            }
        );
    }

    #[test]
    fn outside_ci_nothing_is_guessed() {
        let found = detect(&env(&[("HOME", "/root"), ("CI", "true")]));
        assert_eq!(found, CiContext::default());
    }
}
