//! Result files of a run, each written against `impl Write` and saved atomically (temporary file,
//! then rename), so an interrupted run never leaves a half-written file.

pub(crate) mod locust_csv;
pub(crate) mod streams_csv;
pub(crate) mod summary;

use std::io::Write;
use std::path::Path;

/// Writes a file atomically: `render` fills a temporary file that is then renamed into place.
pub(crate) fn write_atomic(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("out")));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    {
        let file = std::fs::File::create(&tmp)?;
        let mut writer = std::io::BufWriter::new(file);
        render(&mut writer)?;
        writer.flush()?;
        writer.get_ref().sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Writes `value` as pretty JSON, atomically.
pub(crate) fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    write_atomic(path, |w| serde_json::to_writer_pretty(w, value).map_err(std::io::Error::other))
}

/// Writes `text`, atomically.
pub(crate) fn write_text_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}

/// The result files a run writes into its directory, besides its CSVs (`PREFIX_*.csv`).
pub(crate) const RUN_FILES: &[&str] = &["run.json", "verdict.json", "summary.md", "junit.xml", "report.html"];

/// Whether `name` is one of the files a run (with CSV prefix `prefix`) writes, or a temporary
/// file left by an interrupted write.
fn is_result_file(name: &str, prefix: &str) -> bool {
    RUN_FILES.contains(&name)
        || name == format!("{prefix}.log")
        || (name.starts_with(&format!("{prefix}_")) && name.ends_with(".csv"))
        || name.ends_with(".tmp")
}

/// Prepares `out` for a run: refuses a directory that already holds results unless `overwrite`,
/// in which case the earlier run's files are removed (never anything else); stray temporary files
/// of an interrupted write are removed either way. Returns the results found, when refused.
pub(crate) fn prepare_out(out: &Path, prefix: &str, overwrite: bool) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(out) else { return Ok(()) };
    let names: Vec<String> = entries.filter_map(Result::ok).filter_map(|e| e.file_name().into_string().ok()).collect();
    let results: Vec<&String> = names.iter().filter(|n| is_result_file(n, prefix) && !n.ends_with(".tmp")).collect();
    if !results.is_empty() && !overwrite {
        return Err(format!(
            "{} already holds the results of a run ({}); choose another --out, or --overwrite to replace them",
            out.display(),
            results.iter().take(3).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    for name in names.iter().filter(|n| is_result_file(n, prefix) && (overwrite || n.ends_with(".tmp"))) {
        let _ = std::fs::remove_file(out.join(name));
    }
    Ok(())
}

/// Writes every file of a run into `out`: the four Locust CSVs and the streams CSV (prefix
/// `prefix`), then `run.json`,
/// which lists them with their size and hash, so a reader can tell they belong to this run (a
/// crash between two runs' writes cannot leave a mix that passes for one run). Returns
/// `run.json`'s path, or the file that could not be written and why.
pub(crate) fn write_run(
    out: &Path,
    prefix: &str,
    snapshot: &crate::stats::Snapshot,
    run: &crate::formats::run::RunFile,
) -> Result<std::path::PathBuf, (std::path::PathBuf, std::io::Error)> {
    std::fs::create_dir_all(out).map_err(|e| (out.to_owned(), e))?;
    let seconds = run.duration_s;
    let mut run = run.clone();
    type Render<'a> = Box<dyn Fn(&mut dyn Write) -> std::io::Result<()> + 'a>;
    let files: [(&str, Render<'_>); 5] = [
        ("stats", Box::new(|w| locust_csv::write_stats(w, snapshot, seconds))),
        ("stats_history", Box::new(|w| locust_csv::write_history(w, snapshot))),
        ("failures", Box::new(|w| locust_csv::write_failures(w, snapshot))),
        ("exceptions", Box::new(|w| locust_csv::write_exceptions(w))),
        ("streams", Box::new(|w| streams_csv::write(w, snapshot))),
    ];
    for (suffix, render) in files {
        let name = format!("{prefix}_{suffix}.csv");
        let path = out.join(&name);
        let mut bytes = Vec::new();
        render(&mut bytes).map_err(|e| (path.clone(), e))?;
        write_atomic(&path, |w| w.write_all(&bytes)).map_err(|e| (path.clone(), e))?;
        run.files.insert(name, crate::formats::run::FileMark::of(&bytes));
    }
    let run_json = out.join("run.json");
    write_json_atomic(&run_json, &run).map_err(|e| (run_json.clone(), e))?;
    Ok(run_json)
}
