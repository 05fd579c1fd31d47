//! The database under test: opened and seeded through the app's own server code, with one
//! account of enrolled users whose authenticator secrets the benchmark keeps.

use std::path::Path;

use app::server::{now, sessions, totp, two_factor, users, AppState};
use sqlx::Row;

use crate::{PAGE_CONNS, PW};

pub struct Member {
    pub email: String,
    pub secret: Vec<u8>,
}

pub struct Seed {
    /// Verify with a valid code: one half-signed-in browser each, which sends its code twice at
    /// once (a double submit). A user has one half sign-in at a time: a second password sign-in
    /// ends the first.
    pub valid: Vec<(Member, String)>,
    /// Verify with wrong codes: one half-signed-in browser each.
    pub wrong: Vec<(Member, String)>,
    /// Signed-in sessions for the Overview.
    pub sessions: Vec<String>,
    /// The owner's session, with an enrollment pending (for the QR).
    pub owner_session: String,
}

/// Half sign-ins the seed opens: nobody is told of them (the benchmark sends no mail).
const SEEDED: sessions::Arrival = sessions::Arrival {
    addr: "bench",
    reported: false,
    new_browser: false,
};

pub async fn open(url: &str, data_dir: &Path, key: &str) -> AppState {
    let settings = server::Settings {
        database_url: Some(url.to_string()),
        data_dir: data_dir.to_path_buf(),
        max_connections: Some(8),
        secret_key: Some(key.to_string()),
        issuer: "Latchkey".into(),
        config: Default::default(),
        leptos_options: leptos::config::LeptosOptions::builder()
            .output_name("latchkey")
            .build(),
        mail: None,
    };
    server::open_state(&settings)
        .await
        .expect("open the database")
}

/// The SQLite database in `dir`, seeded with `2 * n` users, and the members' password hash.
pub async fn sqlite(dir: &Path, key: &str, n: usize) -> (Seed, String) {
    eprintln!(
        "seeding SQLite: 1 account, {} users with authenticators…",
        2 * n
    );
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.join("latchkey.db").display());
    let state = open(&sqlite_url, dir, key).await;
    let seeded = seed(&state, n).await;
    let hash: String =
        sqlx::query("SELECT password_hash FROM users WHERE email = 'user0@bench.example'")
            .fetch_one(&state.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
    state.pool.close().await;
    (seeded, hash)
}

/// `--seed-only`: how to start the server on the seeded database, and one line per signed-in
/// member, for a load tool that sends them in turn as the bench does.
pub fn print_for_other_tools(seed: &Seed, key: &str, dir: &Path) {
    println!(
        "LATCHKEY_SECRET_KEY={key} server --data-dir {}",
        dir.display()
    );
    for s in &seed.sessions {
        println!("latchkey_session={s}");
    }
}

/// One account with `2 * n` enrolled users, through the same functions the server runs.
pub async fn seed(state: &AppState, n: usize) -> Seed {
    let hash = state.hasher.hash(PW.into()).await.unwrap();
    let (account_id, owner_id) = users::create_account(
        state,
        users::NewOwner {
            account_name: "Bench Inc",
            name: "Bench Owner",
            email: "owner@bench.example",
            password_hash: hash.clone(),
            client_addr: "bench",
        },
    )
    .await
    .unwrap();
    let mut members = Vec::new();
    for i in 0..2 * n {
        members.push(enrolled_member(state, account_id, &hash, i).await);
    }
    let mut valid = Vec::new();
    let mut wrong = Vec::new();
    let mut sessions_out = Vec::new();
    let checked = |user_id| sessions::Checked {
        user_id,
        account_id,
        password_hash: &hash,
    };
    for (i, (user_id, m)) in members.into_iter().enumerate() {
        if i < n {
            if sessions_out.len() < PAGE_CONNS {
                sessions_out.push(
                    sessions::create(
                        &state.pool,
                        &state.config,
                        user_id,
                        ("bench", "bench"),
                        true,
                    )
                    .await
                    .unwrap(),
                );
            }
            let p = sessions::create_pending(state, checked(user_id), false, SEEDED)
                .await
                .unwrap()
                .expect("the member exists");
            valid.push((m, p));
        } else {
            let p = sessions::create_pending(state, checked(user_id), false, SEEDED)
                .await
                .unwrap()
                .expect("the member exists");
            wrong.push((m, p));
        }
    }
    let owner_session = sessions::create(
        &state.pool,
        &state.config,
        owner_id,
        ("bench", "bench"),
        false,
    )
    .await
    .unwrap();
    // The owner's pending enrollment, for the QR scenario: it belongs to that session.
    let holder = sessions::hash_token(&owner_session);
    let owner = two_factor::Who {
        account_id,
        user_id: owner_id,
        client_addr: "bench",
        agent: "",
        holder: &holder,
    };
    two_factor::start_enrollment_for(state, owner, false, false)
        .await
        .unwrap();
    Seed {
        valid,
        wrong,
        sessions: sessions_out,
        owner_session,
    }
}

/// Member `i` of the account, with an authenticator enrolled; returns its user id.
async fn enrolled_member(state: &AppState, account_id: i64, hash: &str, i: usize) -> (i64, Member) {
    let email = format!("user{i}@bench.example");
    // Members added by the owner set their password through an invitation; the bench
    // gives them all the same Argon2 hash instead of hashing 2,000 times.
    let row = sqlx::query(
        "INSERT INTO users (account_id, name, email, role, password_hash, created_at) \
         VALUES ($1, $2, $3, 'admin', $4, $5) RETURNING id",
    )
    .bind(account_id)
    .bind(format!("User {i}"))
    .bind(&email)
    .bind(hash)
    .bind(now())
    .fetch_one(&state.pool)
    .await
    .unwrap();
    let user_id: i64 = row.try_get(0).unwrap();
    // Enrolled as at a sign-in: from a half sign-in of theirs, which the enrollment marks.
    let holder = sessions::hash_token(&sessions::new_token());
    sqlx::query(
        "INSERT INTO pending_logins (id_hash, user_id, created_at, expires_at, via_setup_link) \
         VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(holder.clone())
    .bind(user_id)
    .bind(now())
    .bind(now() + sessions::PENDING_TTL_SECS)
    .execute(&state.pool)
    .await
    .unwrap();
    let who = two_factor::Who {
        account_id,
        user_id,
        client_addr: "bench",
        agent: "",
        holder: &holder,
    };
    let start = two_factor::start_enrollment_for(state, who, false, false)
        .await
        .unwrap();
    let secret = totp::decode_setup_key(&start.setup_key).unwrap();
    let code = totp::code_for(&secret, now() as u64);
    two_factor::confirm_enrollment(state, who, &code, now(), false)
        .await
        .unwrap();
    (user_id, Member { email, secret })
}
