//! A report pack: the report as JSON, HTML and PDF, and `manifest.json` listing every file's size
//! and SHA-256 with the period, the data sources and the generator version. Written as a folder
//! or as one zip archive; both hold the same bytes for the same inputs (fixed file times and
//! order, nothing from the clock). `verify` checks a pack against its manifest.

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inputs::ReportInputs;
use crate::{ReportError, ReportKind};

pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "pathwatch-report-pack/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub report: String,
    pub title: String,
    pub system: String,
    pub period: ManifestPeriod,
    pub generator: String,
    pub data_sources: Vec<String>,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestPeriod {
    /// First day covered.
    pub from: String,
    /// First day not covered.
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A built pack: its name (also the folder inside the zip) and its files, manifest last.
#[derive(Debug, Clone, PartialEq)]
pub struct Pack {
    pub name: String,
    pub manifest: Manifest,
    pub files: Vec<(String, Vec<u8>)>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Builds the pack for one report.
pub fn build(kind: ReportKind, inputs: &ReportInputs) -> Result<Pack, ReportError> {
    let (data, doc) = crate::render_parts(kind, inputs)?;
    let stem = kind.as_str();
    let html = crate::html::render(&doc).into_bytes();
    let pdf = crate::pdf::render(&doc).map_err(|e| ReportError::Render(e.to_string()))?;
    let mut files = vec![(format!("{stem}.html"), html), (format!("{stem}.json"), data), (format!("{stem}.pdf"), pdf)];
    let manifest = Manifest {
        format: FORMAT.into(),
        report: stem.into(),
        title: doc.title.clone(),
        system: inputs.system.name.clone(),
        period: ManifestPeriod { from: inputs.period.from.clone(), to: inputs.period.to.clone() },
        generator: inputs.generator.clone(),
        data_sources: inputs.sources.clone(),
        files: files
            .iter()
            .map(|(path, bytes)| ManifestFile {
                path: path.clone(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
    };
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| ReportError::Render(e.to_string()))?;
    text.push(b'\n');
    files.push((MANIFEST.into(), text));
    let name = format!("pathwatch-{stem}-{}-to-{}", inputs.period.from, inputs.period.to);
    Ok(Pack { name, manifest, files })
}

impl Pack {
    /// Writes the files into `dir`, creating it; refuses a folder that already holds files, so an
    /// earlier pack is never mixed with or overwritten by a new one.
    pub fn write_dir(&self, dir: &Path) -> Result<(), ReportError> {
        let io = |e: std::io::Error| ReportError::Io(format!("{}: {e}", dir.display()));
        if dir.exists() && std::fs::read_dir(dir).map_err(io)?.next().is_some() {
            return Err(ReportError::Io(format!(
                "{} already holds files: choose an empty or new folder",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        for (path, bytes) in &self.files {
            std::fs::write(dir.join(path), bytes).map_err(io)?;
        }
        Ok(())
    }

    /// The pack as one zip archive, its files in a folder named after the pack. Entries carry a
    /// fixed time (1980-01-01, zip's epoch) and mode, so the same pack is the same bytes.
    pub fn zip(&self) -> Result<Vec<u8>, ReportError> {
        let zip_err = |e: zip::result::ZipError| ReportError::Render(format!("zip: {e}"));
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        for (path, bytes) in &self.files {
            writer.start_file(format!("{}/{path}", self.name), options).map_err(zip_err)?;
            writer.write_all(bytes).map_err(|e| ReportError::Render(format!("zip: {e}")))?;
        }
        Ok(writer.finish().map_err(zip_err)?.into_inner())
    }
}

/// What `verify` found: every problem in words, and how many files matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub manifest: Option<Manifest>,
    pub files_matched: usize,
    pub problems: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.manifest.is_some()
    }
}

/// Checks a pack's files (path → bytes, manifest included) against its manifest: every listed
/// file present with the listed size and digest, and no file that is not listed.
pub fn verify_files(files: &[(String, Vec<u8>)]) -> Verification {
    let mut v = Verification { manifest: None, files_matched: 0, problems: Vec::new() };
    let Some((_, manifest)) = files.iter().find(|(p, _)| p == MANIFEST) else {
        v.problems.push(format!("no {MANIFEST}: this is not a Pathwatch report pack"));
        return v;
    };
    let manifest: Manifest = match serde_json::from_slice(manifest) {
        Ok(m) => m,
        Err(e) => {
            v.problems.push(format!("{MANIFEST} is not a pack manifest: {e}"));
            return v;
        }
    };
    if manifest.format != FORMAT {
        v.problems.push(format!("{MANIFEST}: format {:?} is not {FORMAT:?}", manifest.format));
    }
    for listed in &manifest.files {
        match files.iter().find(|(p, _)| *p == listed.path) {
            None => v.problems.push(format!("{}: listed in the manifest but missing", listed.path)),
            Some((_, bytes)) if bytes.len() as u64 != listed.bytes || sha256_hex(bytes) != listed.sha256 => {
                v.problems.push(format!(
                    "{}: ALTERED: {} bytes with SHA-256 {}, the manifest lists {} bytes with SHA-256 {}",
                    listed.path,
                    bytes.len(),
                    sha256_hex(bytes),
                    listed.bytes,
                    listed.sha256
                ))
            }
            Some(_) => v.files_matched += 1,
        }
    }
    for (path, _) in files {
        if path != MANIFEST && !manifest.files.iter().any(|f| f.path == *path) {
            v.problems.push(format!("{path}: not listed in the manifest"));
        }
    }
    v.manifest = Some(manifest);
    v
}

/// Reads a pack from a folder or a zip archive and verifies it.
pub fn verify(path: &Path) -> Result<Verification, ReportError> {
    let io = |e: std::io::Error| ReportError::Io(format!("{}: {e}", path.display()));
    let mut files = Vec::new();
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().map_err(io)?.is_dir() {
                files.push((format!("{name}/"), Vec::new()));
                continue;
            }
            files.push((name, std::fs::read(entry.path()).map_err(io)?));
        }
    } else {
        let bytes = std::fs::read(path).map_err(io)?;
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| ReportError::Io(format!("{}: not a folder or a zip archive ({e})", path.display())))?;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(|e| ReportError::Io(format!("{}: {e}", path.display())))?;
            // Inside the archive every file is in the pack's folder; compare by the name within it.
            let full = entry.name().map_err(|e| ReportError::Io(format!("{}: {e}", path.display())))?.to_string();
            let name = full.split_once('/').map(|(_, rest)| rest.to_string()).unwrap_or(full);
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(io)?;
            if !name.is_empty() {
                files.push((name, bytes));
            }
        }
    }
    Ok(verify_files(&files))
}
