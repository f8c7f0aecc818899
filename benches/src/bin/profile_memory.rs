//! Memory per profile in the scorer's in-memory book: `profile-memory [profiles] [events each]`
//! (defaults: 1,000,000 profiles, 5 events each) applies a realistic stream to a fresh
//! `ProfileBook` and reports the growth of the resident set per profile, beside the baseline of a
//! bare dashmap with the same keys and a counter each, measured in the same run (same allocator).
//!
//! Prints `baseline_bytes_per_profile=…` and `book_bytes_per_profile=…`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use dashmap::DashMap;
use leadstream_benches::scorer_stream_from;
use leadstream_scoring::Model;
use leadstream_scoring::profile::{ProfileBook, Settings};

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let profiles: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let each: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let model = Model::default_model();
    let settings = Settings::default();
    // Small chunks: the transient records of one chunk are all that the measure can overcount.
    let chunk = 10_000;

    // Baseline: the same keys in a bare dashmap.
    let before = resident_bytes();
    let bare: DashMap<(Arc<str>, Box<str>), u64> = DashMap::new();
    let workspace: Arc<str> = Arc::from("acme");
    for p in 0..profiles {
        bare.insert((workspace.clone(), format!("person-{p}").into()), 0);
    }
    let baseline = resident_bytes().saturating_sub(before) as f64 / profiles as f64;
    drop(bare);

    let before = resident_bytes();
    let book = ProfileBook::new();
    let mut offset = 0i64;
    let total = profiles * each;
    let mut done = 0;
    let mut seed = 0;
    let started = std::time::Instant::now();
    while done < total {
        seed += 1;
        let n = chunk.min(total - done);
        // Person ids cycle over all profiles: each gets `each` events.
        for r in &scorer_stream_from(done, n, profiles, seed) {
            offset += 1;
            let _ = book.apply(r, Some((0, offset)), &model, &settings, 0);
        }
        done += n;
    }
    let elapsed = started.elapsed();
    let used = resident_bytes().saturating_sub(before) as f64 / profiles as f64;
    assert_eq!(book.len(), profiles);
    println!("profiles={profiles}");
    println!("events={total}");
    println!("apply_seconds={:.2}", elapsed.as_secs_f64());
    println!(
        "state_inline_bytes={}",
        std::mem::size_of::<leadstream_scoring::profile::ProfileState>()
    );
    println!("baseline_bytes_per_profile={baseline:.0}");
    println!("book_bytes_per_profile={used:.0}");
}
