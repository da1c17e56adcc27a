//! `flakewatch parse`: read JUnit reports locally and show what flakewatch sees in them.
//! Files, folders and glob patterns are found as `upload` finds them.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::client::files;
use crate::client::warnings::{self, Note};
use crate::junit::{Item, JunitReader, ParseError, ParseOptions, Summary, Warning};
use crate::wording::count;

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// JUnit XML reports (plain or gzip): files (read whatever their name), folders
    /// (searched for *.xml and *.xml.gz) or quoted glob patterns such as 'target/**/*.xml'.
    #[arg(required = true, value_name = "FILES|DIRS|GLOBS")]
    inputs: Vec<String>,
    /// `summary`: one line of counts per file; `json`: every record of every file.
    /// Warnings go to stderr either way (and into each file's JSON).
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
    let collected = files::collect(&args.inputs)?;
    for input in &collected.empty_inputs {
        eprintln!("warning: `{input}` holds no report; reading the others");
    }
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
    for (index, path) in collected.files.iter().enumerate() {
        let name = path.display().to_string();
        let result = parse_file(path, &name, args.format, index == 0, &mut out);
        // Rows on stdout and messages on stderr, each after its file's row.
        out.flush()?;
        match result {
            Ok(found) => print_warnings(&name, &found),
            Err(FileError::Parse(err)) => {
                failed += 1;
                eprintln!("error: {err}");
            }
            Err(FileError::Open(message)) => {
                failed += 1;
                eprintln!("error: {message}");
            }
            Err(FileError::Output(err)) => return Err(err.into()),
        }
    }
    if args.format == Format::Json {
        writeln!(out)?;
    }
    out.flush()?;
    if failed > 0 {
        eprintln!(
            "{failed} of {} could not be read",
            count(collected.files.len(), "file")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A file's warnings on stderr, repeats grouped. The dialect is in the summary's column
/// and the JSON, so it is not repeated here.
fn print_warnings(name: &str, found: &[Warning]) {
    let notes = found
        .iter()
        .filter(|w| !w.kind.is_information())
        .map(|w| Note {
            kind: w.kind.code().to_owned(),
            text: format!("{name}: {w}"),
        });
    for line in warnings::grouped(notes) {
        eprintln!("{line}");
    }
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

fn parse_file(
    path: &Path,
    name: &str,
    format: Format,
    first: bool,
    out: &mut impl Write,
) -> Result<Vec<Warning>, FileError> {
    let file =
        File::open(path).map_err(|err| FileError::Open(format!("{name}: cannot open: {err}")))?;
    parse_one(BufReader::new(file), name, format, first, out)
}

/// Streams one file: records are written as they are read, never collected. Returns the
/// file's warnings.
fn parse_one(
    input: impl io::Read,
    name: &str,
    format: Format,
    first: bool,
    out: &mut impl Write,
) -> Result<Vec<Warning>, FileError> {
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
        Format::Summary => writeln!(
            out,
            "{:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  {:<16} {name}",
            summary.tests,
            summary.passed,
            summary.failed,
            summary.errors,
            summary.skipped,
            summary.flaky_in_run,
            reader.dialect().name()
        )?,
    }
    Ok(reader.warnings().to_vec())
}
