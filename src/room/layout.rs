//! MCU layouts: where each publisher's video goes in the mix. Pure
//! functions of the canvas, the feeds in order, the current speaker and the
//! custom regions, so they are unit-tested without GStreamer.
//!
//! Coordinates are pixels of the mix canvas; the compositor scales each
//! input into its rectangle keeping its aspect ratio (black bars).

use serde::Serialize;

/// A rectangle on the canvas, with its stacking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rect {
    /// Left edge, px.
    pub x: i32,
    /// Top edge, px.
    pub y: i32,
    /// Width, px.
    pub w: i32,
    /// Height, px.
    pub h: i32,
    /// Z order (higher is on top).
    pub z: u32,
}

/// A layout kind, as the `layout` room option and `set_layout` request name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Automatic near-square grid, all tiles equal.
    Grid,
    /// The current talker large on top, the others as a strip of thumbnails below.
    Speaker,
    /// Positions given by `set_layout` (`regions[{feed,x,y,w,h,z}]`), by feed key.
    Custom(Vec<(String, Rect)>),
}

impl Layout {
    /// Parses `grid` / `speaker` (custom needs regions, see `set_layout`).
    pub fn from_name(name: &str) -> Option<Layout> {
        match name {
            "grid" => Some(Layout::Grid),
            "speaker" => Some(Layout::Speaker),
            _ => None,
        }
    }

    /// The name Janus-style events report.
    pub fn name(&self) -> &'static str {
        match self {
            Layout::Grid => "grid",
            Layout::Speaker => "speaker",
            Layout::Custom(_) => "custom",
        }
    }
}

/// Columns and rows of the grid for `n` tiles on a `w`x`h` canvas: the
/// arrangement whose tiles come out largest at 16:9 content; on a tie, more
/// columns (people side by side rather than stacked).
pub fn grid_shape(n: usize, w: i32, h: i32) -> (usize, usize) {
    if n <= 1 {
        return (1, 1);
    }
    let mut best = (n, 1);
    let mut best_area = 0.0f64;
    for cols in (1..=n).rev() {
        let rows = n.div_ceil(cols);
        let (tw, th) = (w as f64 / cols as f64, h as f64 / rows as f64);
        // The largest 16:9 picture that fits the tile.
        let fit_w = tw.min(th * 16.0 / 9.0);
        let area = fit_w * fit_w * 9.0 / 16.0;
        if area > best_area + 1e-6 {
            best_area = area;
            best = (cols, rows);
        }
    }
    best
}

/// Places `feeds` (keys in join order) on a `w`x`h` canvas. Feeds a custom
/// layout does not mention are not shown (an empty rect). `speaker` is the
/// key of the current talker, if any.
pub fn place(
    layout: &Layout,
    feeds: &[String],
    speaker: Option<&str>,
    w: i32,
    h: i32,
) -> Vec<Rect> {
    let n = feeds.len();
    if n == 0 {
        return vec![];
    }
    match layout {
        Layout::Grid => {
            let (cols, rows) = grid_shape(n, w, h);
            let (tw, th) = (w / cols as i32, h / rows as i32);
            // The last row is centred when it is not full.
            let last_row_count = n - (rows - 1) * cols;
            (0..n)
                .map(|i| {
                    let (r, c) = (i / cols, i % cols);
                    let offset = if r == rows - 1 {
                        (cols - last_row_count) as i32 * tw / 2
                    } else {
                        0
                    };
                    Rect {
                        x: offset + c as i32 * tw,
                        y: r as i32 * th,
                        w: tw,
                        h: th,
                        z: 0,
                    }
                })
                .collect()
        }
        Layout::Speaker => {
            if n == 1 {
                return vec![Rect {
                    x: 0,
                    y: 0,
                    w,
                    h,
                    z: 0,
                }];
            }
            let main = speaker
                .and_then(|s| feeds.iter().position(|f| f == s))
                .unwrap_or(0);
            let strip_h = h / 5;
            let thumbs = n - 1;
            let tw = (w / thumbs as i32).min(strip_h * 16 / 9);
            let x0 = (w - tw * thumbs as i32) / 2;
            let mut k = 0;
            (0..n)
                .map(|i| {
                    if i == main {
                        Rect {
                            x: 0,
                            y: 0,
                            w,
                            h: h - strip_h,
                            z: 0,
                        }
                    } else {
                        let r = Rect {
                            x: x0 + k * tw,
                            y: h - strip_h,
                            w: tw,
                            h: strip_h,
                            z: 1,
                        };
                        k += 1;
                        r
                    }
                })
                .collect()
        }
        Layout::Custom(regions) => feeds
            .iter()
            .map(|f| {
                regions
                    .iter()
                    .find(|(k, _)| k == f)
                    .map(|(_, r)| *r)
                    .unwrap_or(Rect {
                        x: 0,
                        y: 0,
                        w: 0,
                        h: 0,
                        z: 0,
                    })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    #[test]
    fn grid_shapes() {
        assert_eq!(grid_shape(1, 1280, 720), (1, 1));
        assert_eq!(grid_shape(2, 1280, 720), (2, 1));
        assert_eq!(grid_shape(3, 1280, 720), (2, 2));
        assert_eq!(grid_shape(4, 1280, 720), (2, 2));
        assert_eq!(grid_shape(5, 1280, 720), (3, 2));
        assert_eq!(grid_shape(9, 1280, 720), (3, 3));
    }

    #[test]
    fn grid_tiles_cover_the_canvas_without_overlap() {
        let r = place(&Layout::Grid, &keys(2), None, 1280, 720);
        assert_eq!(
            r[0],
            Rect {
                x: 0,
                y: 0,
                w: 640,
                h: 720,
                z: 0
            }
        );
        assert_eq!(
            r[1],
            Rect {
                x: 640,
                y: 0,
                w: 640,
                h: 720,
                z: 0
            }
        );
        let r = place(&Layout::Grid, &keys(3), None, 1280, 720);
        assert_eq!(
            r[2],
            Rect {
                x: 320,
                y: 360,
                w: 640,
                h: 360,
                z: 0
            },
            "last row centred"
        );
        for n in 1..=9 {
            let r = place(&Layout::Grid, &keys(n), None, 1280, 720);
            assert_eq!(r.len(), n);
            for (i, a) in r.iter().enumerate() {
                assert!(
                    a.x >= 0 && a.y >= 0 && a.x + a.w <= 1280 && a.y + a.h <= 720,
                    "{n}: {a:?}"
                );
                for b in &r[i + 1..] {
                    let overlap =
                        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
                    assert!(!overlap, "{n}: {a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn speaker_layout_follows_the_talker() {
        let feeds = keys(3);
        let r = place(&Layout::Speaker, &feeds, Some("2"), 1280, 720);
        assert_eq!(
            r[2],
            Rect {
                x: 0,
                y: 0,
                w: 1280,
                h: 576,
                z: 0
            }
        );
        assert_eq!(r[0].y, 576);
        assert!(r[0].z > r[2].z);
        let r = place(&Layout::Speaker, &feeds, None, 1280, 720);
        assert_eq!(r[0].w, 1280, "no talker: the first feed is large");
    }

    #[test]
    fn custom_regions_by_feed() {
        let region = Rect {
            x: 10,
            y: 20,
            w: 300,
            h: 200,
            z: 3,
        };
        let l = Layout::Custom(vec![("b".into(), region)]);
        let r = place(&l, &["a".into(), "b".into()], None, 1280, 720);
        assert_eq!(r[1], region);
        assert_eq!(r[0].w, 0, "unmentioned feeds are hidden");
    }
}
