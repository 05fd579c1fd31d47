//! The stylesheet and hydration-script tags of every page.
//!
//! What leptos' `HashedStylesheet` and `HydrationScripts` write, but the content-hashed file
//! names are read from `hash.txt` once per process (those components read the file and resolve
//! the executable's path on every render: ~11 % of the sign-in page's CPU time), the hydration
//! script comes with its arguments filled in, the tags are written once as one string that
//! each page copies with its nonce (17 k instructions a render, callgrind), and a lazy route's
//! wasm preloads go out as a `Link` header (`preload_route`).

use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub(crate) use names::escape_attr;

#[cfg(feature = "ssr")]
mod names {
    use std::{collections::HashMap, sync::OnceLock};

    use leptos::config::LeptosOptions;

    /// Built file names, decided once from `hash.txt` beside the binary, and the head's tags
    /// written with them.
    pub struct Names {
        /// The stylesheet, module and wasm preload tags and the hydration script's opening
        /// `<script type="module"`: what comes before the nonce.
        pub head_start: String,
        /// `>`, the hydration script and `</script>`: what comes after the nonce.
        pub head_end: String,
        /// Per lazy route (its snake-case name, as in the manifest's `__{name}_view_{hash}`
        /// keys): its `Link` preload header.
        pub preloads: Vec<(String, http::HeaderValue)>,
    }

    /// `name: hash` lines, as cargo-leptos writes them next to the server binary.
    fn hashes(options: &LeptosOptions) -> HashMap<String, String> {
        if !options.hash_files {
            return HashMap::new();
        }
        let path = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join(options.hash_file.as_ref())));
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            tracing::warn!("hash-files is on but no hash file was found: unhashed asset names");
            return HashMap::new();
        };
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// The names and tags, decided once per process.
    pub fn get(options: &LeptosOptions) -> &'static Names {
        static NAMES: OnceLock<Names> = OnceLock::new();
        NAMES.get_or_init(|| build(options))
    }

    /// The names and tags for `options`, as leptos 0.8's `HashedStylesheet` and
    /// `HydrationScripts` name the files (`head_tags_follow_leptos_own_hydration_scripts`
    /// fails when an upgrade of leptos changes them).
    pub fn build(options: &LeptosOptions) -> Names {
        {
            let h = hashes(options);
            let hashed = |base: &str, key: &str| match h.get(key) {
                Some(hash) => format!("{base}.{hash}"),
                None => base.to_string(),
            };
            let out = options.output_name.as_ref();
            let css = format!("{}.css", hashed(out, "css"));
            let js = hashed(out, "js");
            let mut wasm = hashed(out, "wasm");
            if h.is_empty() && option_env!("LEPTOS_OUTPUT_NAME").is_none() {
                wasm.push_str("_bg");
            }
            let pkg = options.site_pkg_dir.as_ref();
            let preloads = {
                let manifest = format!("{}.json", hashed("__wasm_split_manifest", "manifest"));
                let path = std::path::Path::new(options.site_root.as_ref())
                    .join(pkg)
                    .join(manifest);
                let split_js = match h.get("split") {
                    Some(hash) => format!("__wasm_split.{hash}.js"),
                    None => "__wasm_split.______________________.js".to_string(),
                };
                std::fs::read_to_string(path)
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .map(|routes: HashMap<String, Vec<String>>| {
                        routes
                            .into_iter()
                            .filter_map(|(key, modules)| {
                                let (route, _hash) =
                                    key.strip_prefix("__")?.rsplit_once("_view_")?;
                                let link = preload_header(pkg, &modules, &split_js);
                                let link = http::HeaderValue::from_str(&link).ok()?;
                                Some((route.to_string(), link))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            // leptos 0.8's `hydration_script.js` with its arguments filled in (no root, no
            // idle-time deferral): load the JS glue, then the wasm, then hydrate. Its ~600 bytes
            // of template were in every page; each byte of a page costs ~40 instructions in gzip.
            let script = format!(
                "import(\"/{pkg}/{js}.js\").then(m=>m.default({{module_or_path:\"/{pkg}/{wasm}.wasm\"}}).then(()=>m.hydrate()))"
            );
            let head_start = format!(
                "<link rel=\"stylesheet\" id=\"leptos\" href=\"{}\">\
                 <link rel=\"modulepreload\" href=\"{}\" crossorigin=\"\">\
                 <link rel=\"preload\" href=\"{}\" as=\"fetch\" type=\"application/wasm\" crossorigin=\"\">\
                 <script type=\"module\"",
                escape_attr(&format!("/{pkg}/{css}")),
                escape_attr(&format!("/{pkg}/{js}.js")),
                escape_attr(&format!("/{pkg}/{wasm}.wasm")),
            );
            Names {
                head_start,
                head_end: format!(">{}</script>", escape_text(&script)),
                preloads,
            }
        }
    }

    /// An attribute value between double quotes (or text in an element).
    pub fn escape_attr(value: &str) -> String {
        value
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    /// Script text: a `<` could end the element early (`</script>`).
    fn escape_text(text: &str) -> String {
        text.replace('<', "\\x3C")
    }

    /// A `Link` header that preloads a lazy route's wasm modules and the loader that splits them,
    /// as leptos' `<link>` tags in the head would.
    fn preload_header(pkg: &str, modules: &[String], split_js: &str) -> String {
        modules
            .iter()
            .map(|m| format!("</{pkg}/{m}.wasm>; rel=preload; as=fetch; type=\"application/wasm\"; crossorigin"))
            .chain(std::iter::once(format!("</{pkg}/{split_js}>; rel=modulepreload; crossorigin")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `<link rel="stylesheet">`, the module and wasm preloads and the hydration script.
#[component]
pub fn AssetTags(options: LeptosOptions) -> impl IntoView {
    // The head is rendered on the server only (the browser hydrates the body), so its tags go out
    // as one string written once per process, with this response's nonce spliced in: as four
    // views they were 11 attributes built, type-erased and escaped on every page render.
    // `crossorigin=""` is anonymous, as the module import and the wasm fetch are (leptos writes
    // the nonce there, an unknown value that also means anonymous).
    #[cfg(feature = "ssr")]
    {
        let names = names::get(&options);
        let nonce = leptos::nonce::use_nonce().map(|n| names::escape_attr(&n.to_string()));
        let mut html = String::with_capacity(
            names.head_start.len()
                + names.head_end.len()
                + nonce.as_ref().map_or(0, |n| n.len() + 9),
        );
        html.push_str(&names.head_start);
        if let Some(nonce) = nonce {
            html.push_str(" nonce=\"");
            html.push_str(&nonce);
            html.push('"');
        }
        html.push_str(&names.head_end);
        leptos::tachys::html::InertElement::new(html)
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = options;
    }
}

/// Preloads the wasm of the lazy route being rendered (`route`: its type's name, e.g.
/// `OverviewRoute`, which the split manifest spells `overview_route`) with a `Link` response
/// header, so the browser fetches its modules while it loads the main wasm rather than after.
///
/// leptos puts these in the head as `<link>` tags through `leptos_meta` when the split manifest is
/// in context: 17 tags on the Overview were ~210 k of its ~815 k instructions per request
/// (callgrind: rendering each through the meta context, then compressing 2.3 KB more). The header
/// is decided once per route; a request copies it.
#[cfg(feature = "ssr")]
pub fn preload_route(route: &str) {
    // Only the process's own build manifest is read here, never the database (which would go
    // through `context::ctx()`, so that the server's page cache sees the read).
    let Some(state) = use_context::<crate::server::context::Provided>() else {
        return;
    };
    let Some(res) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Some((_, link)) = names::get(state.leptos_options())
        .preloads
        .iter()
        .find(|(name, _)| is_snake_case_of(name, route))
    {
        res.insert_header(http::header::LINK, link.clone());
    }
}

/// Whether `snake` is `camel` in snake case (`overview_route`, `OverviewRoute`), as the
/// `#[lazy_route]` macro names a route in the split manifest. Compared without allocating: this
/// runs on every lazy page.
#[cfg(feature = "ssr")]
fn is_snake_case_of(snake: &str, camel: &str) -> bool {
    let mut s = snake.chars();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 && s.next() != Some('_') {
            return false;
        }
        if !c
            .to_lowercase()
            .eq(s.by_ref().take(c.to_lowercase().count()))
        {
            return false;
        }
    }
    s.next().is_none()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::{is_snake_case_of, names::escape_attr};

    /// Our head tags are leptos' `HydrationScripts` and `HashedStylesheet` written once: the same
    /// hashed file names, and the same steps of leptos' `hydration_script.js` (import the JS
    /// glue, initialise it with the wasm, hydrate). leptos is pinned exactly in Cargo.toml; an
    /// upgrade that changes any of these fails here.
    #[test]
    fn head_tags_follow_leptos_own_hydration_scripts() {
        use leptos::{config::LeptosOptions, prelude::*};
        let exe_dir = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let hash_file = format!("lk-assets-test-{}.txt", std::process::id());
        std::fs::write(
            exe_dir.join(&hash_file),
            "js: JSHASH\nwasm: WASMHASH\ncss: CSSHASH\n",
        )
        .unwrap();
        let options = LeptosOptions::builder()
            .output_name("latchkey")
            .site_root("/nonexistent-latchkey-site")
            .site_pkg_dir("pkg")
            .hash_files(true)
            .hash_file(hash_file.as_str().into())
            .build();
        let theirs = view! { <HydrationScripts options=options.clone()/> }.to_html();
        let ours = super::names::build(&options);
        std::fs::remove_file(exe_dir.join(&hash_file)).unwrap();
        let ours_head = format!("{}{}", ours.head_start, ours.head_end);

        for url in ["/pkg/latchkey.JSHASH.js", "/pkg/latchkey.WASMHASH.wasm"] {
            let href = format!("href=\"{url}\"");
            assert!(theirs.contains(&href), "leptos: {theirs}");
            assert!(ours_head.contains(&href), "ours: {ours_head}");
        }
        // leptos' script and its arguments (root, pkg dir, JS name, wasm name, defer).
        for step in [
            "import(`${root}/${pkg_path}/${output_name}.js`)",
            "mod.default({module_or_path: `${root}/${pkg_path}/${wasm_output_name}.wasm`})",
            "mod.hydrate();",
            r#"("", "pkg", "latchkey.JSHASH", "latchkey.WASMHASH", false)"#,
        ] {
            assert!(
                theirs.contains(step),
                "leptos no longer has {step}: {theirs}"
            );
        }
        assert!(
            ours_head.contains(
                r#"import("/pkg/latchkey.JSHASH.js").then(m=>m.default({module_or_path:"/pkg/latchkey.WASMHASH.wasm"}).then(()=>m.hydrate()))"#
            ),
            "{ours_head}"
        );
        // leptos_meta's `HashedStylesheet` names the stylesheet `{output}.{css hash}.css`.
        assert!(
            ours_head.contains(
                r#"<link rel="stylesheet" id="leptos" href="/pkg/latchkey.CSSHASH.css">"#
            ),
            "{ours_head}"
        );
    }

    #[test]
    fn head_attribute_values_cannot_leave_their_quotes() {
        assert_eq!(
            escape_attr(r#"/pkg/a"><script>&"#),
            "/pkg/a&quot;&gt;&lt;script&gt;&amp;"
        );
        assert_eq!(
            escape_attr("/pkg/latchkey.CZo8-_x.js"),
            "/pkg/latchkey.CZo8-_x.js"
        );
    }

    #[test]
    fn route_types_match_their_manifest_names() {
        assert!(is_snake_case_of("overview_route", "OverviewRoute"));
        assert!(is_snake_case_of(
            "settings_security_route",
            "SettingsSecurityRoute"
        ));
        assert!(is_snake_case_of("a", "A"));
        assert!(!is_snake_case_of("overview", "OverviewRoute"));
        assert!(!is_snake_case_of("overview_route_x", "OverviewRoute"));
        assert!(!is_snake_case_of("overviewroute", "OverviewRoute"));
        assert!(!is_snake_case_of("profile_route", "OverviewRoute"));
        assert!(!is_snake_case_of("_overview_route", "OverviewRoute"));
    }
}
