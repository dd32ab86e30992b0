//! Result files of a run, each written against `impl Write` and saved atomically (temporary file,
//! then rename), so an interrupted run never leaves a half-written file.

pub mod locust_csv;
pub mod summary;

use std::io::Write;
use std::path::Path;

/// Writes a file atomically: `render` fills a temporary file that is then renamed into place.
pub fn write_atomic(path: &Path, render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("out")));
    {
        let file = std::fs::File::create(&tmp)?;
        let mut writer = std::io::BufWriter::new(file);
        render(&mut writer)?;
        writer.flush()?;
        writer.get_ref().sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Writes every file of a run into `out`: the four Locust CSVs (prefix `prefix`) and `run.json`.
/// Returns `run.json`'s path, or the file that could not be written and why.
pub fn write_run(
    out: &Path,
    prefix: &str,
    snapshot: &crate::stats::Snapshot,
    run: &crate::formats::run::RunFile,
) -> Result<std::path::PathBuf, (std::path::PathBuf, std::io::Error)> {
    std::fs::create_dir_all(out).map_err(|e| (out.to_owned(), e))?;
    let seconds = run.duration_s;
    let file = |suffix: &str| out.join(format!("{prefix}_{suffix}.csv"));
    let at = |path: std::path::PathBuf| move |e| (path, e);
    let stats = file("stats");
    write_atomic(&stats, |w| locust_csv::write_stats(w, snapshot, seconds)).map_err(at(stats.clone()))?;
    let history = file("stats_history");
    write_atomic(&history, |w| locust_csv::write_history(w, snapshot)).map_err(at(history.clone()))?;
    let failures = file("failures");
    write_atomic(&failures, |w| locust_csv::write_failures(w, snapshot)).map_err(at(failures.clone()))?;
    let exceptions = file("exceptions");
    write_atomic(&exceptions, |w| locust_csv::write_exceptions(w)).map_err(at(exceptions.clone()))?;
    let run_json = out.join("run.json");
    write_atomic(&run_json, |w| serde_json::to_writer_pretty(w, run).map_err(std::io::Error::other))
        .map_err(at(run_json.clone()))?;
    Ok(run_json)
}
