//! `flakewatch parse`: read JUnit reports locally and show what flakewatch sees in them.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::junit::{Item, JunitReader, ParseError, ParseOptions, Summary};

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// JUnit XML reports (plain or gzip).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// `summary`: one line of counts per file; `json`: every record of every file.
    #[arg(long, value_enum, default_value_t = Format::Summary)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Summary,
    Json,
}

/// Exits 0 when every file parsed, 1 otherwise (after reading all of them).
pub fn run(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.format == Format::Summary {
        writeln!(
            out,
            "{:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  {:<16} file",
            "tests", "passed", "failed", "errors", "skipped", "flaky", "dialect"
        )?;
    }
    let mut failed = 0;
    for (index, path) in args.files.iter().enumerate() {
        let name = path.display().to_string();
        let result = match File::open(path) {
            Ok(file) => parse_one(
                BufReader::new(file),
                &name,
                args.format,
                index == 0,
                &mut out,
            ),
            Err(err) => Err(FileError::Open(format!("{name}: cannot open: {err}"))),
        };
        if let Err(err) = result {
            failed += 1;
            out.flush()?;
            match err {
                FileError::Parse(err) => eprintln!("error: {err}"),
                FileError::Open(message) => eprintln!("error: {message}"),
                FileError::Output(err) => return Err(err.into()),
            }
        }
    }
    if args.format == Format::Json {
        writeln!(out)?;
    }
    out.flush()?;
    if failed > 0 {
        eprintln!("{failed} of {} file(s) could not be read", args.files.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

enum FileError {
    Open(String),
    Parse(ParseError),
    Output(io::Error),
}

impl From<ParseError> for FileError {
    fn from(err: ParseError) -> Self {
        FileError::Parse(err)
    }
}

impl From<io::Error> for FileError {
    fn from(err: io::Error) -> Self {
        FileError::Output(err)
    }
}

impl From<serde_json::Error> for FileError {
    fn from(err: serde_json::Error) -> Self {
        FileError::Output(err.into())
    }
}

/// Streams one file: records are written as they are read, never collected.
fn parse_one(
    input: impl io::Read,
    name: &str,
    format: Format,
    first: bool,
    out: &mut impl Write,
) -> Result<(), FileError> {
    let mut reader = JunitReader::new(input, name, ParseOptions::default())?;
    let mut summary = Summary::default();
    if format == Format::Json {
        // One JSON document per file, one per line, so tools can stream them.
        if !first {
            writeln!(out)?;
        }
        write!(
            out,
            "{{\"file\":{},\"records\":[",
            serde_json::to_string(name)?
        )?;
    }
    let mut records = 0u64;
    while let Some(item) = reader.next_item()? {
        if let Item::Case(case) = item {
            summary.add(&case);
            if format == Format::Json {
                if records > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, &case)?;
            }
            records += 1;
        }
    }
    match format {
        Format::Json => write!(
            out,
            "],\"summary\":{},\"dialect\":{},\"warnings\":{}}}",
            serde_json::to_string(&summary)?,
            serde_json::to_string(reader.dialect().name())?,
            serde_json::to_string(reader.warnings())?
        )?,
        Format::Summary => {
            writeln!(
                out,
                "{:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  {:<16} {name}",
                summary.tests,
                summary.passed,
                summary.failed,
                summary.errors,
                summary.skipped,
                summary.flaky_in_run,
                reader.dialect().name()
            )?;
            for warning in reader.warnings() {
                writeln!(out, "        warning: {warning}")?;
            }
        }
    }
    Ok(())
}
