//! `pathwatch bench canary`: the canaries' own overhead. Our sandboxes run in this process with no
//! added latency; the flows run one after another on one thread (a current-thread runtime). For each
//! flow it prints, side by side, the mean step time, the part of it on the wire (request sent →
//! body read, which includes the sandbox's work), the part spent in Pathwatch (neither on the wire
//! nor deliberately waiting, e.g. between MESH polls), their ratio, and the canary thread's CPU time
//! per flow, i.e. how many flows per second one core can drive; then the same split per step.
//! Ends with one JSON line. It asserts nothing; build with `--release` for figures worth quoting.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use canaries::{Canaries, CanaryConfig, FlowConfig, FlowKind, StepOutcome};

#[derive(clap::Args, Clone)]
pub struct CanaryBench {
    /// Runs of each flow (after one warm-up run each).
    #[arg(long, default_value_t = 200)]
    runs: usize,
}

/// CPU time of the calling thread (Linux: /proc/thread-self/schedstat, in ns).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// Per step (`flow/step`): count, total step ms, total wire ms, total own ms.
type StepTable = Vec<(String, usize, f64, f64, f64)>;

#[derive(Default, serde::Serialize)]
struct Figures {
    flow: String,
    runs: usize,
    failed_runs: usize,
    steps: usize,
    step_ms: f64,
    wire_ms: f64,
    own_ms: f64,
    own_p95_ms: f64,
    cpu_ms_per_flow: f64,
    flows_per_core_second: f64,
    wall_flows_per_second: f64,
}

pub async fn canary(args: CanaryBench) -> anyhow::Result<ExitCode> {
    let dir = tempfile_dir()?;
    let sandbox = sandboxes::Sandbox::start(([127, 0, 0, 1], 0).into(), crate::demo::sandbox_config(&dir)?)
        .await
        .context("starting the sandboxes")?;
    let mut config = CanaryConfig { step_timeout_ms: 10_000, ..CanaryConfig::default() };
    let mut env = crate::demo::environment(&sandbox.urls().root, &dir)?;
    env.mesh.poll_interval_ms = 10;
    config.environments.insert("bench".into(), env);
    config.flows = FlowKind::ALL.iter().map(|k| FlowConfig::builtin(*k, "bench")).collect();
    let runs = args.runs.max(1);
    // The canaries get a thread and a single-threaded runtime of their own: "one core".
    let figures = std::thread::spawn(move || -> anyhow::Result<(Vec<Figures>, StepTable)> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let canaries = Canaries::new(&config)?;
            let mut all = Vec::new();
            let mut per_step: StepTable = Vec::new();
            for flow in canaries.flows() {
                canaries.run_flow(flow, None).await; // warm-up: token, connections
                let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
                let mut f = Figures { flow: flow.config.name.clone(), runs, ..Figures::default() };
                let mut own = Vec::new();
                for _ in 0..runs {
                    let Some(run) = canaries.run_flow(flow, None).await else { continue };
                    f.failed_runs += usize::from(!run.status.passes());
                    for step in run.steps.iter().filter(|s| s.outcome != StepOutcome::Skipped) {
                        f.steps += 1;
                        f.step_ms += step.duration_ms;
                        f.wire_ms += step.wire_ms;
                        own.push(step.own_ms());
                        let name = format!("{}/{}", flow.config.name, step.step);
                        let i = match per_step.iter().position(|s| s.0 == name) {
                            Some(i) => i,
                            None => {
                                per_step.push((name, 0, 0.0, 0.0, 0.0));
                                per_step.len() - 1
                            }
                        };
                        let entry = &mut per_step[i];
                        entry.1 += 1;
                        entry.2 += step.duration_ms;
                        entry.3 += step.wire_ms;
                        entry.4 += step.own_ms();
                    }
                }
                let wall = wall0.elapsed().as_secs_f64();
                let n = f.steps.max(1) as f64;
                f.step_ms /= n;
                f.wire_ms /= n;
                f.own_ms = own.iter().sum::<f64>() / n;
                own.sort_by(f64::total_cmp);
                f.own_p95_ms = own.get((own.len() * 95 / 100).min(own.len().saturating_sub(1))).copied().unwrap_or(0.0);
                if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
                    f.cpu_ms_per_flow = (b - a) as f64 / 1e6 / runs as f64;
                    f.flows_per_core_second = 1000.0 / f.cpu_ms_per_flow.max(1e-9);
                }
                f.wall_flows_per_second = runs as f64 / wall;
                all.push(f);
            }
            Ok((all, per_step))
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("benchmark thread panicked"))??;
    let (figures, per_step) = figures;
    sandbox.shutdown().await;
    println!(
        "{:<10} {:>5} {:>6} {:>9} {:>9} {:>9} {:>8} {:>9} {:>10} {:>10} {:>9}",
        "flow",
        "runs",
        "failed",
        "step ms",
        "wire ms",
        "own ms",
        "own/step",
        "own p95",
        "cpu ms/run",
        "runs/core-s",
        "runs/s"
    );
    for f in &figures {
        println!(
            "{:<10} {:>5} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>7.0}% {:>9.3} {:>10.3} {:>10.0} {:>9.1}",
            f.flow,
            f.runs,
            f.failed_runs,
            f.step_ms,
            f.wire_ms,
            f.own_ms,
            100.0 * f.own_ms / f.step_ms.max(1e-9),
            f.own_p95_ms,
            f.cpu_ms_per_flow,
            f.flows_per_core_second,
            f.wall_flows_per_second
        );
    }
    println!();
    println!("{:<34} {:>6} {:>9} {:>9} {:>9} {:>8}", "step", "n", "step ms", "wire ms", "own ms", "own/step");
    for (name, n, step, wire, own) in &per_step {
        let n_f = (*n).max(1) as f64;
        println!(
            "{:<34} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>7.0}%",
            name,
            n,
            step / n_f,
            wire / n_f,
            own / n_f,
            100.0 * own / step.max(1e-9)
        );
    }
    let worst = per_step.iter().map(|(_, n, _, _, own)| own / (*n).max(1) as f64).fold(0.0, f64::max);
    println!("target: under 2 ms of Pathwatch's own time per step; worst step mean {worst:.3} ms");
    println!("{}", serde_json::json!({"bench": "canary", "runs": runs, "flows": figures}));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("pathwatch-bench-canary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
