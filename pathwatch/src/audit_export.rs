//! `pathwatch audit export --format fhir-ndjson --from DAY --to DAY`: the audit events of a period
//! as FHIR R4 `AuditEvent` resources (IHE BALP shapes), one per line, each with its place in the
//! hash chain, for an organisation's own audit repository or SIEM. Read page by page, so a year's
//! trail takes no more memory than a page.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use audit_store::{chain, AuditFilter, AuditLog};
use sha2::Digest;

use crate::commands::parse_time;
use crate::config::Config;
use crate::serve::{open_store, Open};

/// Events read from the store at once.
const PAGE: u32 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// FHIR R4 AuditEvent resources, one per line (application/fhir+ndjson).
    FhirNdjson,
}

#[derive(clap::Args)]
pub struct AuditExport {
    /// What to write.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Earliest time the events occurred, inclusive: RFC 3339 or a date (midnight UTC).
    #[arg(long)]
    from: String,
    /// Latest time, exclusive, in the same forms.
    #[arg(long)]
    to: String,
    /// Only the auditors' own trail: what was searched, revealed, sampled and decided on the dashboard.
    #[arg(long)]
    auditors: bool,
    /// Write to this file (replaced only once the export is whole); standard output otherwise.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn audit_export(config: &Config, args: AuditExport) -> anyhow::Result<ExitCode> {
    let (from_ns, to_ns) = (parse_time("from", &args.from)?, parse_time("to", &args.to)?);
    if to_ns <= from_ns {
        anyhow::bail!("--to {:?} must be after --from {:?}", args.to, args.from);
    }
    let store = open_store(config, Open::ExistingOnly).await?;
    let options = audit_store::fhir::FhirOptions {
        dashboard_url: Some(crate::serve::public_url(&config.dashboard)),
        mask_nhs_numbers: false,
    };
    // To a file: written beside it, readable by its owner only (whole NHS numbers), and put in its
    // place only once whole and on disk; an export that fails leaves nothing behind.
    let temp = match &args.out {
        Some(path) => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let file = tempfile::Builder::new()
                .prefix(".pathwatch-export-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .tempfile_in(&dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            Some(file)
        }
        None => None,
    };
    let mut sink: Box<dyn Write> = match &temp {
        Some(file) => Box::new(std::io::BufWriter::new(file.as_file().try_clone()?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut digest = sha2::Sha256::new();
    let mut filter = AuditFilter {
        source_system: args.auditors.then(|| audit_store::access::AUDITOR_SOURCE.to_string()),
        from_ns: Some(from_ns),
        to_ns: Some(to_ns),
        limit: PAGE,
        ..Default::default()
    };
    let mut count = 0u64;
    // Each chain's first and last position exported.
    let mut chains: std::collections::BTreeMap<u16, (u64, u64)> = Default::default();
    loop {
        let page = store.audit_events(&filter).await.context("reading audit events")?;
        for stored in &page {
            let mut line = serde_json::to_vec(&audit_store::fhir::audit_event(stored, &options))?;
            line.push(b'\n');
            digest.update(&line);
            sink.write_all(&line).context("writing the export")?;
            let position = chain::position(stored.seq);
            let range = chains.entry(chain::chain_of(stored.seq)).or_insert((position, position));
            *range = (range.0.min(position), range.1.max(position));
            count += 1;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => filter.after = Some((last.event.occurred_ns, last.seq)),
            _ => break,
        }
    }
    sink.flush().context("writing the export")?;
    drop(sink);
    if let (Some(temp), Some(out)) = (temp, &args.out) {
        temp.as_file().sync_all().context("writing the export to disk")?;
        temp.persist(out).with_context(|| format!("moving the export to {}", out.display()))?;
        if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The rename itself on disk too.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
    }
    let ranges: Vec<String> =
        chains.iter().map(|(chain, (first, last))| format!("chain {chain} positions {first} to {last}")).collect();
    eprintln!(
        "exported {count} audit events ({} to {}) as FHIR R4 AuditEvent NDJSON{}; SHA-256 {}{}",
        args.from,
        args.to,
        args.out.as_ref().map(|p| format!(" to {}", p.display())).unwrap_or_default(),
        hex::encode(digest.finalize()),
        if ranges.is_empty() { String::new() } else { format!("; {}", ranges.join(", ")) }
    );
    Ok(ExitCode::SUCCESS)
}
