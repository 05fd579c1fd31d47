//! The enrollment QR code as one compact SVG path: each run of dark modules in a row is one
//! stroked horizontal segment reached by a short relative move, so an otpauth URI renders in
//! about 3 KB.

use std::fmt::Write;

use qrcode::{Color, EcLevel, QrCode};

const QUIET_ZONE: usize = 4;

pub fn svg(data: &str) -> Option<String> {
    // Level M survives a smudged or partly covered screen without growing the code much.
    let code = QrCode::with_error_correction_level(data, EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET_ZONE;
    let mut path = String::with_capacity(4096);
    // The pen rests where the last segment ended; the first move is absolute, on the row's
    // centre line (y + .5), so that a stroke of width 1 covers exactly one row.
    let mut pen: Option<(i64, i64)> = None;
    for y in 0..width {
        let row = &colors[y * width..(y + 1) * width];
        let mut x = 0;
        while x < width {
            if row[x] != Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && row[x] == Color::Dark {
                x += 1;
            }
            let (sx, sy) = ((start + QUIET_ZONE) as i64, (y + QUIET_ZONE) as i64);
            match pen {
                None => {
                    let _ = write!(path, "M{sx} {sy}.5");
                }
                Some((px, py)) => {
                    let _ = write!(path, "m{} {}", sx - px, sy - py);
                }
            }
            let len = (x - start) as i64;
            let _ = write!(path, "h{len}");
            pen = Some((sx + len, sy));
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path stroke=\"#000\" d=\"{path}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_qr_is_small_and_well_formed() {
        let uri = "otpauth://totp/Latchkey:someone.with.a.long.name%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Latchkey";
        let svg = svg(uri).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(svg.len() <= 5 * 1024, "QR SVG is {} bytes", svg.len());
    }

    /// Replays the path and checks it paints exactly the dark modules.
    #[test]
    fn path_paints_exactly_the_dark_modules() {
        let data = "otpauth://totp/Latchkey:a%40b.co?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Latchkey";
        let code = QrCode::with_error_correction_level(data, EcLevel::M).unwrap();
        let w = code.width();
        let want: Vec<bool> = code.to_colors().iter().map(|c| *c == Color::Dark).collect();
        let svg = svg(data).unwrap();
        let d = svg.split("d=\"").nth(1).unwrap().split('"').next().unwrap();
        let mut painted = vec![false; w * w];
        let (mut x, mut y) = (0i64, 0i64);
        let mut rest = d;
        while !rest.is_empty() {
            let cmd = &rest[..1];
            let end = rest[1..]
                .find(['M', 'm', 'h'])
                .map(|i| i + 1)
                .unwrap_or(rest.len());
            let args = &rest[1..end];
            rest = &rest[end..];
            match cmd {
                "M" | "m" => {
                    let mut it = args.split(' ');
                    let dx: i64 = it.next().unwrap().parse().unwrap();
                    let dy: i64 = it.next().unwrap().trim_end_matches(".5").parse().unwrap();
                    if cmd == "M" {
                        (x, y) = (dx, dy)
                    } else {
                        (x, y) = (x + dx, y + dy)
                    }
                }
                _ => {
                    let len: i64 = args.parse().unwrap();
                    for i in x..x + len {
                        painted[(y as usize - QUIET_ZONE) * w + (i as usize - QUIET_ZONE)] = true;
                    }
                    x += len;
                }
            }
        }
        assert_eq!(painted, want);
    }
}
