//! The diesel schema, shared by both backends (the two migration sets in `migrations/`
//! create the same tables). Written by hand to match them; `tests/migrations.rs` checks
//! that every column here exists on both backends.

diesel::table! {
    instance_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    projects (id) {
        id -> BigInt,
        name -> Text,
        default_branch -> Text,
        created_at -> Timestamp,
        display_name -> Text,
        default_branch_source -> Text,
        rescore_requested -> Bool,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        project_id -> BigInt,
        scope -> Text,
        label -> Text,
        prefix -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    runner_rates (project_id, runner_label) {
        project_id -> BigInt,
        runner_label -> Text,
        micros_per_minute -> BigInt,
        currency -> Text,
    }
}

diesel::table! {
    uploads (id) {
        id -> BigInt,
        project_id -> BigInt,
        idempotency_key -> Text,
        received_at -> Timestamp,
        branch -> Text,
        commit_sha -> Text,
        job -> Text,
        attempt -> Integer,
        pipeline -> Text,
        build_url -> Text,
        runner -> Text,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        content_type -> Text,
        report_name -> Text,
        body_bytes -> BigInt,
        default_branch -> Text,
        token_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    upload_payloads (upload_id) {
        upload_id -> BigInt,
        compressed -> Binary,
        compressed_bytes -> BigInt,
    }
}

diesel::table! {
    store_tasks (id) {
        id -> BigInt,
        token_hash -> Nullable<Text>,
        upload_id -> Nullable<BigInt>,
        project_id -> Nullable<BigInt>,
        status -> Text,
        received_at -> Timestamp,
        enqueued_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        heartbeat_at -> Nullable<Timestamp>,
        lease_expires_at -> Nullable<Timestamp>,
        worker -> Nullable<Text>,
        claims -> Integer,
        cancel_requested -> Bool,
        records_seen -> BigInt,
        records_stored -> BigInt,
        warnings -> Text,
        error -> Nullable<Text>,
        kind -> Text,
        dedupe_key -> Nullable<Text>,
        stored_at -> Nullable<Timestamp>,
        scored_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    runs (id) {
        id -> BigInt,
        project_id -> BigInt,
        upload_id -> BigInt,
        branch -> Text,
        on_default_branch -> Bool,
        commit_sha -> Text,
        job -> Text,
        attempt -> Integer,
        pipeline -> Text,
        build_url -> Text,
        runner -> Text,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        stored_at -> Timestamp,
        tests -> Integer,
        passed -> Integer,
        failed -> Integer,
        errors -> Integer,
        skipped -> Integer,
        flaky_in_run -> Integer,
        test_time_ms -> BigInt,
        retry_ms -> BigInt,
        red_flaky -> Integer,
        red_broken -> Integer,
        red_other -> Integer,
        flaky_retry_ms -> BigInt,
        timing_source -> Text,
        scored_at -> Nullable<Timestamp>,
        score_seq -> Nullable<BigInt>,
    }
}

diesel::table! {
    tests (id) {
        id -> BigInt,
        project_id -> BigInt,
        identity_hash -> Text,
        suite -> Text,
        classname -> Text,
        name -> Text,
        file -> Nullable<Text>,
        first_seen_at -> Timestamp,
    }
}

diesel::table! {
    failure_signatures (id) {
        id -> BigInt,
        project_id -> BigInt,
        signature_hash -> Text,
        normalized -> Text,
        first_seen_at -> Timestamp,
    }
}

diesel::table! {
    failure_messages (id) {
        id -> BigInt,
        project_id -> BigInt,
        message_hash -> Text,
        signature_id -> BigInt,
        kind -> Text,
        message -> Text,
        details -> Text,
    }
}

diesel::table! {
    results (id) {
        id -> BigInt,
        run_id -> BigInt,
        test_id -> BigInt,
        outcome -> Text,
        duration_ms -> Nullable<BigInt>,
        attempts -> Integer,
        failed_attempts -> Integer,
        retry_ms -> BigInt,
        failure_message_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    test_scores (test_id) {
        test_id -> BigInt,
        project_id -> BigInt,
        status -> Text,
        score -> Double,
        failure_rate -> Double,
        runs_seen -> Integer,
        first_flaky_at -> Nullable<Timestamp>,
        last_flaky_at -> Nullable<Timestamp>,
        status_changed_at -> Timestamp,
        updated_at -> Timestamp,
        evidence -> Text,
        last_seen_at -> Nullable<Timestamp>,
        fixed_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The scorer's state of each test (see `analysis::TestState`), apart from the scores
    /// pages read.
    test_states (test_id) {
        test_id -> BigInt,
        project_id -> BigInt,
        state -> Text,
    }
}

diesel::table! {
    quarantines (id) {
        id -> BigInt,
        project_id -> BigInt,
        test_id -> BigInt,
        owner -> Text,
        reason -> Text,
        issue_url -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    project_codeowners (project_id) {
        project_id -> BigInt,
        content -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    test_impact_days (test_id, day) {
        test_id -> BigInt,
        project_id -> BigInt,
        day -> Date,
        failures -> Integer,
        red_runs_alone -> Integer,
        rerun_ms -> BigInt,
        retry_ms -> BigInt,
    }
}

diesel::table! {
    test_duration_days (test_id, day) {
        test_id -> BigInt,
        project_id -> BigInt,
        day -> Date,
        passed -> Integer,
        passed_ms -> BigInt,
    }
}

diesel::table! {
    staged_results (id) {
        id -> BigInt,
        task_id -> BigInt,
        claim -> Integer,
        test_id -> BigInt,
        outcome -> Text,
        duration_ms -> Nullable<BigInt>,
        attempts -> Integer,
        failed_attempts -> Integer,
        retry_ms -> BigInt,
        failure_message_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    web_sessions (id) {
        id -> BigInt,
        token_id -> BigInt,
        session_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    /// Each project's branches and jobs, for filter choices (`store::run_names`).
    run_names (project_id, kind, name) {
        project_id -> BigInt,
        kind -> Text,
        name -> Text,
    }
}

diesel::table! {
    /// What page caches key a project's data by (`store::data_versions`).
    project_data_versions (project_id) {
        project_id -> BigInt,
        version -> BigInt,
    }
}

diesel::table! {
    run_days (project_id, day, branch, job, runner) {
        project_id -> BigInt,
        day -> Date,
        branch -> Text,
        job -> Text,
        runner -> Text,
        runs -> BigInt,
        red_runs -> BigInt,
        red_flaky_only -> BigInt,
        red_broken -> BigInt,
        red_other -> BigInt,
        flaky_failures -> BigInt,
        run_ms -> BigInt,
        rerun_ms -> BigInt,
        rerun_after_flaky_ms -> BigInt,
        flaky_retry_ms -> BigInt,
        durations -> Binary,
    }
}

diesel::table! {
    span_days (project_id, whole, day, branch, job) {
        project_id -> BigInt,
        whole -> Bool,
        day -> Date,
        branch -> Text,
        job -> Text,
        feedback -> Binary,
        first_red -> Binary,
        minutes -> Binary,
    }
}

diesel::table! {
    task_days (project_id, day) {
        project_id -> BigInt,
        day -> Date,
        queue -> Binary,
        store -> Binary,
        scoring -> Binary,
    }
}

diesel::table! {
    pipeline_spans (project_id, whole, pipeline, commit_sha, job) {
        project_id -> BigInt,
        whole -> Bool,
        pipeline -> Text,
        commit_sha -> Text,
        job -> Text,
        branch -> Text,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        first_red_at -> Nullable<Timestamp>,
        run_ms -> BigInt,
        last_false_alarm -> Bool,
    }
}

diesel::table! {
    project_test_counts (project_id, status) {
        project_id -> BigInt,
        status -> Text,
        tests -> BigInt,
    }
}

diesel::joinable!(api_tokens -> projects (project_id));
diesel::joinable!(web_sessions -> api_tokens (token_id));
diesel::joinable!(runner_rates -> projects (project_id));
diesel::joinable!(uploads -> projects (project_id));
diesel::joinable!(upload_payloads -> uploads (upload_id));
diesel::table! {
    delivery_batches (id) {
        id -> BigInt,
        project_id -> BigInt,
        subject -> Text,
        label -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        batch_id -> BigInt,
        webhook -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notification_events (id) {
        id -> BigInt,
        project_id -> BigInt,
        test_id -> BigInt,
        event -> Text,
        happened_at -> Timestamp,
        dedupe_key -> Nullable<Text>,
        batch_id -> Nullable<BigInt>,
    }
}

diesel::joinable!(store_tasks -> uploads (upload_id));
diesel::joinable!(store_tasks -> projects (project_id));
diesel::joinable!(runs -> uploads (upload_id));
diesel::joinable!(tests -> projects (project_id));
diesel::joinable!(failure_messages -> failure_signatures (signature_id));
diesel::joinable!(results -> runs (run_id));
diesel::joinable!(results -> tests (test_id));
diesel::joinable!(results -> failure_messages (failure_message_id));
diesel::joinable!(test_scores -> tests (test_id));
diesel::joinable!(test_states -> tests (test_id));
diesel::joinable!(test_impact_days -> tests (test_id));
diesel::joinable!(test_duration_days -> tests (test_id));
diesel::joinable!(quarantines -> tests (test_id));
diesel::joinable!(deliveries -> delivery_batches (batch_id));
diesel::joinable!(delivery_batches -> projects (project_id));
diesel::joinable!(notification_events -> tests (test_id));

diesel::joinable!(run_names -> projects (project_id));
diesel::joinable!(project_data_versions -> projects (project_id));
diesel::joinable!(project_test_counts -> projects (project_id));

diesel::allow_tables_to_appear_in_same_query!(
    run_names,
    project_data_versions,
    project_test_counts,
    run_days,
    span_days,
    pipeline_spans,
    task_days,
    test_states,
    instance_secrets,
    projects,
    api_tokens,
    runner_rates,
    uploads,
    upload_payloads,
    store_tasks,
    runs,
    tests,
    failure_signatures,
    failure_messages,
    results,
    test_scores,
    test_impact_days,
    test_duration_days,
    quarantines,
    project_codeowners,
    web_sessions,
    delivery_batches,
    deliveries,
    notification_events,
);
