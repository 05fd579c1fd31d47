//! Criterion benches of the server's hot pure functions, each next to a baseline measured in
//! the same run: `cargo bench -p app --features ssr --bench hot_paths`.
//!
//! - code check: one HMAC-SHA1 code generation (the floor) vs. the console's check of a valid
//!   code (nearest step first), a wrong code (every step of the ±10-step drift window), and
//!   the whole CPU part of a sign-in code check: open the sealed secret, check, compare the
//!   step with the last one used (the replay bookkeeping the database then makes durable);
//! - QR: the qrcode crate's own SVG renderer vs. ours (run-length path), same otpauth URI;
//! - recovery codes: SHA-256 of one code (the floor) vs. HMAC-SHA256 under the server key of
//!   all ten codes of a set.

use app::server::{keys::ServerKey, qr, totp};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

const SECRET: &[u8] = b"12345678901234567890";
const NOW: u64 = 1_700_000_000;

fn code_check(c: &mut Criterion) {
    let valid = totp::code_for(SECRET, NOW);
    let wrong = if valid == "000000" {
        "000001"
    } else {
        "000000"
    }
    .to_string();
    let key = ServerKey::generate();
    let sealed = key.seal("totp:42", SECRET);
    let last_step: i64 = (NOW / 30) as i64 - 1;
    let mut g = c.benchmark_group("code_check");
    g.bench_function("floor: one HMAC-SHA1 code", |b| {
        b.iter(|| totp::code_for(black_box(SECRET), black_box(NOW)))
    });
    g.bench_function("valid code", |b| {
        b.iter(|| totp::check(black_box(SECRET), black_box(&valid), black_box(NOW)))
    });
    g.bench_function("wrong code (whole drift window)", |b| {
        b.iter(|| totp::check(black_box(SECRET), black_box(&wrong), black_box(NOW)))
    });
    g.bench_function("open secret + check + replay step compare", |b| {
        b.iter(|| {
            let secret = key.open("totp:42", black_box(&sealed)).unwrap();
            match totp::check(&secret, black_box(&valid), black_box(NOW)) {
                totp::Check::Valid { step } => step > black_box(last_step),
                _ => false,
            }
        })
    });
    g.finish();
}

fn qr_svg(c: &mut Criterion) {
    let uri = "otpauth://totp/Latchkey:ann.owner%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Latchkey&algorithm=SHA1&digits=6&period=30";
    let mut g = c.benchmark_group("qr_svg");
    g.bench_function("baseline: qrcode crate's SVG renderer", |b| {
        b.iter(|| {
            let code =
                qrcode::QrCode::with_error_correction_level(black_box(uri), qrcode::EcLevel::M)
                    .unwrap();
            code.render::<qrcode::render::svg::Color>().build()
        })
    });
    g.bench_function("ours: run-length path", |b| {
        b.iter(|| qr::svg(black_box(uri)))
    });
    g.finish();
    let ours = qr::svg(uri).unwrap().len();
    let theirs = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M)
        .unwrap()
        .render::<qrcode::render::svg::Color>()
        .build()
        .len();
    eprintln!("qr_svg sizes: ours {ours} bytes, baseline {theirs} bytes");
}

fn recovery_codes(c: &mut Criterion) {
    use sha2::Digest;
    let key = ServerKey::generate();
    let codes: Vec<String> = (0..10).map(|i| format!("abcde{i:05}")).collect();
    let mut g = c.benchmark_group("recovery_codes");
    g.bench_function("floor: SHA-256 of one code", |b| {
        b.iter(|| sha2::Sha256::digest(black_box(codes[0].as_bytes())))
    });
    g.bench_function("HMAC-SHA256 of a set of ten", |b| {
        b.iter(|| {
            codes
                .iter()
                .map(|c| key.mac(black_box(c.as_bytes())))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, code_check, qr_svg, recovery_codes);
criterion_main!(benches);
