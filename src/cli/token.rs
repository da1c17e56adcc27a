//! `flakewatch token`: create, list and revoke API tokens (run where the database is).

use clap::{Args, Subcommand};

use crate::cli::database;
use crate::config::DatabaseSettings;
use crate::store::tokens::{self, Scope};

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
    #[command(flatten)]
    database: DatabaseSettings,
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Create a token (and the project, if new); prints the token once.
    Create {
        /// Project the token belongs to.
        #[arg(long)]
        project: String,
        /// What the token may do: upload reports, read results, or administer.
        #[arg(long, value_enum)]
        scope: Scope,
        /// A note to recognise the token by, e.g. "github actions".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never their secret part).
    List {
        /// Only this project's tokens.
        #[arg(long)]
        project: Option<String>,
    },
    /// Revoke a token by the id `token list` shows.
    Revoke { id: i64 },
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let database = database::open(&args.database)?;
    let mut conn = database.pool.get()?;
    let now = chrono::Utc::now().naive_utc();
    match args.action {
        TokenAction::Create {
            project,
            scope,
            label,
        } => {
            crate::store::projects::validate_name(&project).map_err(|m| anyhow::anyhow!("{m}"))?;
            let (token, plaintext) = tokens::create(&mut conn, &project, scope, &label, now)?;
            eprintln!(
                "created {} token {} for project {}; it is shown only this once:",
                token.scope.as_str(),
                token.id,
                token.project
            );
            println!("{plaintext}");
        }
        TokenAction::List { project } => {
            let list = tokens::list(&mut conn, project.as_deref())?;
            println!(
                "{:>5}  {:<20} {:<7} {:<15} {:<17} {:<17} label",
                "id", "project", "scope", "prefix", "created (UTC)", "last used"
            );
            for token in list {
                let last_used = token
                    .last_used_at
                    .map_or_else(|| "never".to_owned(), |at| at.format("%F %R").to_string());
                let state = if token.revoked_at.is_some() {
                    " (revoked)"
                } else {
                    ""
                };
                println!(
                    "{:>5}  {:<20} {:<7} {:<15} {:<17} {:<17} {}{state}",
                    token.id,
                    token.project,
                    token.scope.as_str(),
                    token.prefix,
                    token.created_at.format("%F %R"),
                    last_used,
                    token.label
                );
            }
        }
        TokenAction::Revoke { id } => {
            if tokens::revoke(&mut conn, id, now)? {
                println!("revoked token {id}");
            } else {
                anyhow::bail!("no live token has id {id}: `flakewatch token list` shows the ids");
            }
        }
    }
    Ok(())
}
