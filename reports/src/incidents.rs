//! The incidents on-call staff declared and the exercises they ran, with their post-mortems'
//! actions: listed by the DSPT pack (NDG standard 6) and the DCB0129 safety case.

use crate::document::{Block, Column, Table};
use crate::inputs::ReportInputs;
use crate::summary::{optional_time, time};

/// A paragraph counting the period's incidents and exercises, then two tables: the incidents, and
/// their actions. `first_table` numbers the first table.
pub fn blocks(inputs: &ReportInputs, first_table: u32) -> Vec<Block> {
    let Some(incidents) = &inputs.incidents else {
        return vec![Block::Paragraph(
            "The dashboard's incident records were not read for this report, so on-call incidents are not listed."
                .into(),
        )];
    };
    let real = incidents.iter().filter(|i| i.exercise.is_empty()).count();
    let exercises = incidents.len() - real;
    let last = match inputs.last_exercise_ns {
        Some(t) => format!("The most recent exercise was declared {}.", time(t)),
        None => "No exercise has been recorded.".into(),
    };
    let actions: Vec<Vec<String>> = incidents
        .iter()
        .flat_map(|i| {
            i.actions.iter().map(|a| {
                vec![
                    i.reference.clone(),
                    a.description.clone(),
                    a.owner.clone(),
                    a.due.clone(),
                    a.done_ns.map(time).unwrap_or_else(|| "open".into()),
                ]
            })
        })
        .collect();
    let open = actions.iter().filter(|a| a[4] == "open").count();
    vec![
        Block::Paragraph(format!(
            "{real} incidents were declared or open during the period, and {exercises} exercises (rehearsals such as a \
             mock breach or an upstream outage drill) were run. {last} Their post-mortems hold {} actions, {open} of \
             them still open.",
            actions.len()
        )),
        Block::Table(Table {
            caption: format!("Table {first_table}. Incidents and exercises"),
            columns: vec![
                Column::new("Incident", 0.9),
                Column::new("Title", 2.6),
                Column::new("Severity", 0.8),
                Column::new("Pathways", 1.6),
                Column::new("Declared", 1.5),
                Column::new("Resolved", 1.5),
                Column::new("Impact and hazard", 2.4),
            ],
            rows: incidents
                .iter()
                .map(|i| {
                    let title = if i.exercise.is_empty() {
                        i.title.clone()
                    } else {
                        format!("Exercise ({}): {}", i.exercise, i.title)
                    };
                    let hazard =
                        if i.hazard_id.is_empty() { String::new() } else { format!(" Hazard {}.", i.hazard_id) };
                    vec![
                        i.reference.clone(),
                        title,
                        i.severity.clone(),
                        i.pathways.join(", "),
                        time(i.declared_ns),
                        optional_time(i.resolved_ns).replace("never", &format!("open ({})", i.status)),
                        format!("{}{hazard}", i.impact),
                    ]
                })
                .collect(),
            empty: "No incident was declared or open during the period.".into(),
        }),
        Block::Table(Table {
            caption: format!("Table {}. Post-mortem actions", first_table + 1),
            columns: vec![
                Column::new("Incident", 0.9),
                Column::new("Action", 3.5),
                Column::new("Owner", 1.4),
                Column::new("Due", 1.0),
                Column::new("Done", 1.5),
            ],
            rows: actions,
            empty: "No post-mortem action was recorded.".into(),
        }),
    ]
}
