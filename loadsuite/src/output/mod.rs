//! Result files of a run, each written against `impl Write` and saved atomically (temporary file,
//! then rename), so an interrupted run never leaves a half-written file.

pub mod locust_csv;
pub mod run_json;
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
