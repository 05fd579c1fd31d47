//! The page scenarios and their floor: `GET /healthz`, the sign-in page and the signed-in
//! Overview (each as copied from the server's first render and rendered anew), taking turns
//! in one-second slices.

use std::{sync::Arc, time::Duration};

use crate::{
    http1,
    load::{closed_for, slices, Run},
    server::Server,
    PAGE_CONNS,
};

pub struct Pages {
    pub floor: Run,
    pub login: Run,
    pub login_rendered: Run,
    pub overview: Run,
    pub overview_rendered: Run,
    /// Each round's page rate over its own floor.
    pub login_rounds: Vec<f64>,
    pub overview_rounds: Vec<f64>,
    pub overview_rendered_rounds: Vec<f64>,
}

/// One request for `path` per signed-in member (`sessions`), to be sent round-robin.
pub fn as_members(server: &Server, path: &str, sessions: &[String]) -> Arc<Vec<http1::Request>> {
    Arc::new(
        sessions
            .iter()
            .map(|s| http1::get(server.addr, path, Some(&format!("latchkey_session={s}"))))
            .collect(),
    )
}

async fn anonymous_get(server: &Server, path: &str, secs: Duration) -> Run {
    let req = http1::get(server.addr, path, None);
    closed_for(server.addr, PAGE_CONNS, secs, Arc::new(vec![req]), 200).await
}

pub async fn run(server: &Server, sessions: &[String], secs: Duration) -> Pages {
    eprintln!("floor and pages…");
    // One Overview request per signed-in member, sent round-robin.
    let overview_reqs = as_members(server, "/", sessions);
    // With a query string the server renders each member's Overview anew instead of copying
    // the render it kept for them: leptos' full cost, with the same session lookup.
    let overview_rendered_reqs = as_members(server, "/?from=bench", sessions);
    // The floor and the pages take turns in one-second slices, so a slower stretch of this
    // shared machine falls on all three alike rather than on whichever ran then.
    let (slices, slice) = slices(secs);
    let (mut floors, mut logins, mut overviews) = (Vec::new(), Vec::new(), Vec::new());
    let (mut logins_rendered, mut overviews_rendered) = (Vec::new(), Vec::new());
    for _ in 0..slices {
        floors.push(anonymous_get(server, "/healthz", slice).await);
        logins.push(anonymous_get(server, "/login", slice).await);
        // With a query string the server renders the sign-in page anew (as it does to show a
        // plain form post's error) instead of copying its first render: leptos' full cost.
        logins_rendered.push(anonymous_get(server, "/login?from=bench", slice).await);
        overviews
            .push(closed_for(server.addr, PAGE_CONNS, slice, overview_reqs.clone(), 200).await);
        overviews_rendered.push(
            closed_for(
                server.addr,
                PAGE_CONNS,
                slice,
                overview_rendered_reqs.clone(),
                200,
            )
            .await,
        );
    }
    // Each round's page rates over its own floor: how far one round is from another on this
    // machine, printed beside the ratios of the whole run.
    let round_ratios = |pages: &[Run]| -> Vec<f64> {
        pages
            .iter()
            .zip(&floors)
            .map(|(p, f)| p.rps() / f.rps())
            .collect()
    };
    let (login_rounds, overview_rounds) = (round_ratios(&logins), round_ratios(&overviews));
    let overview_rendered_rounds = round_ratios(&overviews_rendered);
    Pages {
        floor: Run::combine(floors),
        login: Run::combine(logins),
        login_rendered: Run::combine(logins_rendered),
        overview: Run::combine(overviews),
        overview_rendered: Run::combine(overviews_rendered),
        login_rounds,
        overview_rounds,
        overview_rendered_rounds,
    }
}
