//! `flakewatch project`: create, change, show and list projects (run where the database
//! is, like `token`).

use clap::{Args, Subcommand};

use super::progress::Progress;
use crate::analysis::Params;
use crate::config::DatabaseSettings;
use crate::db::{self, DbError};
use crate::store::project_settings::{self, ProjectSettings, SettingsChange};
use crate::store::projects::{self, Project};
use crate::wording::count;

#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(subcommand)]
    action: ProjectAction,
    #[command(flatten)]
    database: DatabaseSettings,
}

/// The settings `create` and `set` take.
#[derive(Debug, Args)]
struct SettingFlags {
    /// Name shown on the dashboard instead of the project's name.
    #[arg(long)]
    display_name: Option<String>,
    /// The branch whose failures mean "broken" (e.g. master, trunk, develop). Once set
    /// here, uploads no longer change it; changing it scores the project's history again.
    #[arg(long)]
    default_branch: Option<String>,
    /// Price of one runner minute, as LABEL=PRICE (e.g. linux-2c=0.008; `_default` prices
    /// every other runner; LABEL= removes a price). Repeat for several labels.
    #[arg(long = "runner-rate", value_name = "LABEL=PRICE", value_parser = project_settings::parse_runner_rate)]
    runner_rates: Vec<(String, Option<f64>)>,
    /// Currency of the runner prices (e.g. USD, EUR).
    #[arg(long)]
    currency: Option<String>,
}

impl SettingFlags {
    fn into_change(self) -> SettingsChange {
        SettingsChange {
            display_name: self.display_name,
            default_branch: self.default_branch,
            runner_rates: self.runner_rates,
            currency: self.currency,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ProjectAction {
    /// Create a project (names: letters, digits, `.`, `_`, `-`; at most 100 characters).
    Create {
        name: String,
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Change a project's settings; only the options given change.
    Set {
        name: String,
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Show a project's settings, runs and tests per status.
    Show {
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List projects.
    List,
}

pub fn run(args: ProjectArgs) -> anyhow::Result<()> {
    let database = super::database::open(&args.database)?;
    let mut conn = database.pool.get()?;
    let now = chrono::Utc::now().naive_utc();
    match args.action {
        ProjectAction::Create { name, settings } => {
            projects::validate_name(&name).map_err(|m| anyhow::anyhow!("{m}"))?;
            if projects::find(&mut conn, &name)
                .map_err(DbError::from)?
                .is_some()
            {
                anyhow::bail!(
                    "project `{name}` exists already: `flakewatch project set {name} ...` changes it"
                );
            }
            let change = settings.into_change();
            check(&change)?;
            let project = projects::find_or_create(&mut conn, &name, now).map_err(DbError::from)?;
            apply(&mut conn, &project, &change, now)?;
            eprintln!("created project {name}");
            print_settings(&mut conn, &name, false)?;
        }
        ProjectAction::Set { name, settings } => {
            let project = find(&mut conn, &name)?;
            let change = settings.into_change();
            if change == SettingsChange::default() {
                anyhow::bail!(
                    "nothing to change: give --display-name, --default-branch, --runner-rate or --currency"
                );
            }
            check(&change)?;
            apply(&mut conn, &project, &change, now)?;
            print_settings(&mut conn, &name, false)?;
        }
        ProjectAction::Show { name, json } => print_settings(&mut conn, &name, json)?,
        ProjectAction::List => {
            let list = projects::list_overviews(&mut conn).map_err(DbError::from)?;
            if list.is_empty() {
                eprintln!("no projects yet: `flakewatch project create NAME` makes one");
            }
            println!(
                "{:<24} {:<16} {:>7}  {:<17} display name",
                "project", "default branch", "runs", "last run (UTC)"
            );
            for p in list {
                let last = p
                    .last_run_at
                    .map_or_else(|| "never".to_owned(), |at| at.format("%F %R").to_string());
                println!(
                    "{:<24} {:<16} {:>7}  {:<17} {}",
                    p.project.name, p.project.default_branch, p.runs, last, p.project.display_name
                );
            }
        }
    }
    Ok(())
}

fn find(conn: &mut db::PooledConnection, name: &str) -> anyhow::Result<Project> {
    projects::find(conn, name)
        .map_err(DbError::from)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "there is no project `{name}`: `flakewatch project list` shows the projects"
            )
        })
}

fn check(change: &SettingsChange) -> anyhow::Result<()> {
    change.validate().map_err(|e| {
        let flag = match e.field {
            "runner_rates" => "runner-rate".to_owned(),
            field => field.replace('_', "-"),
        };
        anyhow::anyhow!("--{flag}: {}", e.message)
    })
}

fn apply(
    conn: &mut db::PooledConnection,
    project: &Project,
    change: &SettingsChange,
    now: chrono::NaiveDateTime,
) -> anyhow::Result<()> {
    let mut progress = Progress::new("run");
    let rescored = project_settings::apply(
        conn,
        project,
        change,
        &Params::default(),
        now,
        |done, total| progress.update(done, total),
    )
    .map_err(DbError::from)?;
    progress.finish();
    if let Some(r) = rescored {
        eprintln!(
            "default branch changed: rescored {}, {}, {}",
            count(r.runs, "run"),
            count(r.results, "result"),
            count(r.tests, "test")
        );
    }
    Ok(())
}

fn print_settings(conn: &mut db::PooledConnection, name: &str, json: bool) -> anyhow::Result<()> {
    let project = find(conn, name)?;
    let settings = project_settings::show(conn, &project).map_err(DbError::from)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&settings)?);
    } else {
        print!("{}", settings_text(&settings));
    }
    Ok(())
}

fn settings_text(s: &ProjectSettings) -> String {
    let source = match s.default_branch_source.as_str() {
        "setting" => "set by an admin",
        "ci" => "named by the CI system",
        _ => "assumed: nobody named one",
    };
    let mut out = format!("project         {}\n", s.name);
    if !s.display_name.is_empty() {
        out.push_str(&format!("display name    {}\n", s.display_name));
    }
    out.push_str(&format!(
        "default branch  {} ({source})\n",
        s.default_branch
    ));
    out.push_str(&format!(
        "created         {} UTC\n",
        s.created_at.0.format("%F %R")
    ));
    out.push_str(&format!("runs            {}\n", s.runs));
    let tests: Vec<String> = s.tests.iter().map(|(k, v)| format!("{v} {k}")).collect();
    if !tests.is_empty() {
        out.push_str(&format!("tests           {}\n", tests.join(", ")));
    }
    if s.runner_rates.is_empty() {
        out.push_str("runner prices   none (set with --runner-rate LABEL=PRICE)\n");
    }
    for rate in &s.runner_rates {
        out.push_str(&format!(
            "runner price    {} = {} {} a minute\n",
            rate.runner, rate.per_minute, rate.currency
        ));
    }
    out
}
