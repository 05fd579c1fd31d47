//! Page compression: libdeflate's level 1 (the baseline, which `compress.rs` uses above 4 KB)
//! against `fixed_deflate` (DEFLATE's fixed codes, used up to 4 KB), on the sign-in page as the
//! server sends it (`sign_in_page.html`, 1,628 bytes) and on that page four times over (a
//! 6.5 KB body, past the cut-over). Prints each output's size first.
//! `cargo bench -p server --bench gzip`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use libdeflater::{CompressionLvl, Compressor};
use server::fixed_deflate;

const PAGE: &[u8] = include_bytes!("sign_in_page.html");

fn libdeflate(c: &mut Compressor, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0; c.gzip_compress_bound(data.len())];
    let len = c.gzip_compress(data, &mut out).expect("within the bound");
    out.truncate(len);
    out
}

fn gzip(c: &mut Criterion) {
    let mut level1 = Compressor::new(CompressionLvl::new(1).expect("level 1 exists"));
    let large = PAGE.repeat(4);
    for (name, data) in [("sign-in page", PAGE), ("page x4", &large[..])] {
        println!(
            "{name}: {} bytes -> libdeflate level 1 {} bytes, fixed codes {} bytes",
            data.len(),
            libdeflate(&mut level1, data).len(),
            fixed_deflate::gzip(data).map_or(0, |v| v.len())
        );
        let mut g = c.benchmark_group(format!("gzip {name}"));
        g.bench_function("baseline: libdeflate level 1", |b| {
            b.iter(|| libdeflate(&mut level1, black_box(data)))
        });
        g.bench_function("fixed codes", |b| {
            b.iter(|| fixed_deflate::gzip(black_box(data)))
        });
        g.finish();
    }
}

criterion_group!(benches, gzip);
criterion_main!(benches);
