//! Usage errors that name the environment variable too: a CI job usually sets
//! `FLAKEWATCH_SERVER` rather than `--server`, and clap's "required argument not provided"
//! names only the flag.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use super::Cli;

/// `--server can also be set with FLAKEWATCH_SERVER`, one line per missing argument of the
/// command `args` ran that has a variable; empty for other errors.
pub fn env_hints(err: &clap::Error, args: &[String]) -> Vec<String> {
    if err.kind() != ErrorKind::MissingRequiredArgument {
        return Vec::new();
    }
    let Some(ContextValue::Strings(missing)) = err.get(ContextKind::InvalidArg) else {
        return Vec::new();
    };
    let root = Cli::command();
    let command = subcommand_of(&root, args);
    missing
        .iter()
        .filter_map(|usage| {
            // "--server <SERVER>" names the flag `server`.
            let long = usage.strip_prefix("--")?.split_whitespace().next()?;
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(long))?;
            let env = arg.get_env()?.to_string_lossy();
            Some(format!("hint: --{long} can also be set with {env}"))
        })
        .collect()
}

/// The (sub)command the words of `args` name, e.g. `token create`.
fn subcommand_of<'a>(root: &'a clap::Command, args: &[String]) -> &'a clap::Command {
    let mut command = root;
    for word in args.iter().skip(1) {
        if let Some(sub) = command.find_subcommand(word) {
            command = sub;
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn hints(args: &[&str]) -> Vec<String> {
        let err = Cli::try_parse_from(args).unwrap_err();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        env_hints(&err, &args)
    }

    #[test]
    fn missing_flags_name_their_variables() {
        assert_eq!(
            hints(&["flakewatch", "upload", "report.xml"]),
            [
                "hint: --server can also be set with FLAKEWATCH_SERVER",
                "hint: --project can also be set with FLAKEWATCH_PROJECT",
            ]
        );
        // `rescore --project` reads no variable, though `upload --project` does.
        assert!(hints(&["flakewatch", "rescore"]).is_empty());
        assert!(hints(&["flakewatch", "upload", "--nope"]).is_empty());
    }
}
