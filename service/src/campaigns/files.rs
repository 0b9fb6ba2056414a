//! Files of codes: safe, unique download names, and ZIPs of several codes.

use super::types::CampaignView;
use crate::ServiceError;
use std::collections::HashSet;
use std::io::Write;

/// A file name safe on every system: `/\:*?"<>|` and control characters become `_`, a
/// leading dot too (no hidden files, no `..`), at most 120 characters.
fn safe_file_name(name: &str) -> String {
    let mut out: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') { '_' } else { c })
        .take(120)
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.trim().is_empty() { "file".into() } else { out }
}

/// `name (2).ext` for the second file called `name.ext`.
fn numbered(name: &str, n: usize) -> String {
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{} ({n}){}", &name[..i], &name[i..]),
        None => format!("{name} ({n})"),
    }
}

/// The download name of a campaign's code: `{id}-{name}.{ext}`, made safe.
pub fn code_file_name(c: &CampaignView, ext: &str) -> String {
    safe_file_name(&format!("{}-{}.{}", c.id, c.name, ext))
}

/// A ZIP of `(file name, bytes)`: entries stored uncompressed (PNGs are compressed already),
/// names made safe and unique (case-insensitively, for Windows and macOS) with " (2)", " (3)"….
pub fn zip_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, ServiceError> {
    let zip_err = |e: zip::result::ZipError| ServiceError::Internal(format!("writing the ZIP failed: {e}"));
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    let mut used: HashSet<String> = HashSet::new();
    for (name, bytes) in files {
        let base = safe_file_name(name);
        let mut unique = base.clone();
        let mut n = 1;
        while !used.insert(unique.to_lowercase()) {
            n += 1;
            unique = numbered(&base, n);
        }
        writer.start_file(unique, options).map_err(zip_err)?;
        writer.write_all(bytes).map_err(|e| ServiceError::Internal(format!("writing the ZIP failed: {e}")))?;
    }
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}
