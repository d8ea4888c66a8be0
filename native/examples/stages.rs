//! Time each stage of the native decode on a directory of alert files (development aid).
use std::time::Instant;

use rbc1000_native::fits::read_stamp;
use rbc1000_native::inflate::Inflater;
use rbc1000_native::preprocess::{make_triplet, TRIPLET};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: stages DIR");
    let mut stamps = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        // Gzip members inside the packet: the three ZTF stamps.
        let mut found = Vec::new();
        for i in 0..data.len().saturating_sub(3) {
            if data[i] == 0x1f && data[i + 1] == 0x8b && data[i + 2] == 8 && found.len() < 3 {
                found.push(i);
            }
        }
        if found.len() == 3 {
            stamps.push((data, found));
        }
    }
    let mut inf = Inflater::default();
    let t = Instant::now();
    let mut images = Vec::new();
    for (data, starts) in &stamps {
        let mut imgs = Vec::new();
        for (k, &s) in starts.iter().enumerate() {
            let end = if k + 1 < 3 { starts[k + 1] } else { data.len() };
            if let Ok(img) = read_stamp(&data[s..end], &mut inf) {
                imgs.push(img);
            }
        }
        images.push(imgs);
    }
    let n = stamps.len() as f64;
    println!(
        "read_stamp x3: {:.1} us/alert",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let mut out = vec![0f32; TRIPLET];
    let t = Instant::now();
    for imgs in images.iter().filter(|i| i.len() == 3) {
        let _ = make_triplet([&imgs[0], &imgs[1], &imgs[2]], &mut out);
    }
    println!(
        "make_triplet: {:.1} us/alert",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
}
