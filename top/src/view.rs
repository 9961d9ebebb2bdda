//! Drawing the live view: a header, the tree of actors, the selected
//! actor's calls and contexts (or its task dump), and the keys.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use crate::live::{App, Entry};
use crate::walk::Answer;

/// The whole screen.
pub(crate) fn draw(f: &mut Frame, app: &App) {
    // The tree as tall as it is (borders and header besides), up to half
    // the screen; the pane below takes the rest.
    let area = f.area();
    let tall = u16::try_from(app.entries.len().max(1)).unwrap_or(u16::MAX);
    let tree_height = tall.saturating_add(3).min(area.height / 2);
    let [head, tree, pane, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(tree_height),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(area);
    let count = app.entries.iter().filter(|e| e.state != "gone").count();
    let status = match (&app.trouble, app.walks) {
        (Some(why), _) => why.clone(),
        (None, 0) => "walking the tree…".to_owned(),
        (None, _) => format!("{count} actors, walked in {} ms", app.walk_took.as_millis()),
    };
    f.render_widget(
        Paragraph::new(format!("tractor-top  registrar {}  {status}", app.registry))
            .style(Style::new().add_modifier(Modifier::BOLD)),
        head,
    );
    draw_tree(f, app, tree);
    match &app.dump {
        Some(d) => {
            let title = format!(" task dump of {} (esc closes) ", d.of);
            let text = match &d.text {
                None => "asking…".to_owned(),
                Some(Ok(t)) => t.trim_start_matches('\n').to_owned(),
                Some(Err(why)) => format!("no dump: {why}"),
            };
            f.render_widget(
                Paragraph::new(text)
                    .scroll((d.scroll, 0))
                    .block(Block::new().borders(Borders::ALL).title(title)),
                pane,
            );
        }
        None => draw_pane(f, app.current(), pane),
    }
    let help = match app.dump {
        Some(_) => "↑↓ PgUp PgDn scroll  esc close  q quit",
        None => "↑↓ select  d task dump  q quit",
    };
    f.render_widget(
        Paragraph::new(help).style(Style::new().fg(Color::DarkGray)),
        keys,
    );
}

/// A number, or a dash.
fn or_dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), f)
}

fn draw_tree(f: &mut Frame, app: &App, area: Rect) {
    let header = Row::new([
        "ACTOR", "PID", "STATE", "CPU%", "RSS MiB", "MSG/S", "ADAPTER",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = app.entries.iter().map(|e| {
        let name = match e.depth {
            0 => e.uid.name.clone(),
            d => format!("{}└ {}", "  ".repeat(d - 1), e.uid.name),
        };
        let registrar = match &e.seen {
            Answer::Snapshot(s) if s.registrar => " [registrar]",
            _ => "",
        };
        let adapter = match &e.seen {
            Answer::Snapshot(s) => format!("{} {}", s.process.adapter, s.process.transport),
            Answer::NoIntrospection => "python".to_owned(),
            Answer::Gone(_) => String::new(),
        };
        let style = match e.state.as_str() {
            "gone" => Style::new().fg(Color::Red),
            "cancelling" | "exiting" | "killed" => Style::new().fg(Color::Yellow),
            _ => Style::new(),
        };
        Row::new([
            Cell::from(format!("{name}{registrar}")),
            Cell::from(or_dash(e.pid, |p| p.to_string())),
            Cell::from(e.state.clone()),
            Cell::from(or_dash(e.cpu_percent, |c| format!("{c:.0}"))),
            Cell::from(or_dash(e.rss_kib, |r| format!("{:.1}", r as f64 / 1024.0))),
            Cell::from(or_dash(e.msg_rate, |m| format!("{m:.0}"))),
            Cell::from(adapter),
        ])
        .style(style)
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(24),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(11),
        ],
    )
    .header(header)
    .block(Block::new().borders(Borders::ALL).title(" actors "))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state =
        TableState::default().with_selected((!app.entries.is_empty()).then_some(app.selected));
    f.render_stateful_widget(table, area, &mut state);
}

/// The selected actor's calls and contexts.
fn draw_pane(f: &mut Frame, entry: Option<&Entry>, area: Rect) {
    let Some(e) = entry else {
        f.render_widget(
            Paragraph::new("no actor registered yet").block(Block::new().borders(Borders::ALL)),
            area,
        );
        return;
    };
    let snap = match &e.seen {
        Answer::Snapshot(s) => s,
        Answer::NoIntrospection => {
            let addrs = e.addr.as_ref().map(ToString::to_string).unwrap_or_default();
            let text = format!("python, no introspection: the registrar knows it at {addrs}");
            f.render_widget(
                Paragraph::new(text).block(
                    Block::new()
                        .borders(Borders::ALL)
                        .title(format!(" {} ", e.uid)),
                ),
                area,
            );
            return;
        }
        Answer::Gone(why) => {
            f.render_widget(
                Paragraph::new(format!("gone: {why}")).block(
                    Block::new()
                        .borders(Borders::ALL)
                        .title(format!(" {} ", e.uid)),
                ),
                area,
            );
            return;
        }
    };
    let c = &snap.counters;
    let title = format!(
        " {}: {} of {} calls and contexts; served {}, made {}, items {} out {} in; up {:.0} s ",
        e.uid,
        snap.dialogs.len(),
        snap.dialogs_total,
        c.calls_served,
        c.calls_made,
        c.items_sent,
        c.items_received,
        snap.process.uptime_ms as f64 / 1000.0,
    );
    let header = Row::new([
        "FUNCTION", "KIND", "SIDE", "PEER", "STATE", "AGE s", "SENT", "RECV", "CREDIT",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = snap.dialogs.iter().map(|d| {
        Row::new([
            d.function.clone(),
            d.kind.clone(),
            if d.role == "callee" {
                "serves"
            } else {
                "calls"
            }
            .to_owned(),
            d.peer.name.clone(),
            d.state.clone(),
            format!("{:.1}", d.age_ms as f64 / 1000.0),
            d.items_sent.to_string(),
            d.items_received.to_string(),
            or_dash(d.credit_out, |c| c.to_string()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(18),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Length(17),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(6),
        ],
    )
    .header(header)
    .block(Block::new().borders(Borders::ALL).title(Line::from(title)));
    f.render_widget(table, area);
}
