//! The scorer's per-event cost: applying events to in-memory profiles and scores (the default
//! model: decay, rules with caps and conditions, fit grade, qualification), beside the baseline of
//! the least a per-person in-memory counter does with the same events (hash the person, lock its
//! dashmap shard, bump a number), measured in the same run. One thread, so events per second is
//! per core.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dashmap::DashMap;
use leadstream_benches::scorer_stream;
use leadstream_scoring::Model;
use leadstream_scoring::profile::{ProfileBook, Settings};

const EVENTS: usize = 10_000;
const PEOPLE: usize = 1_000;

fn bench(c: &mut Criterion) {
    let model = Model::default_model();
    let settings = Settings::default();
    let mut group = c.benchmark_group("scorer");
    group.throughput(Throughput::Elements(EVENTS as u64));

    let counters: DashMap<(Arc<str>, Box<str>), u64> = DashMap::new();
    let workspace: Arc<str> = Arc::from("acme");
    let mut seed = 0;
    group.bench_function("baseline_dashmap_counter", |b| {
        b.iter_batched(
            || {
                seed += 1;
                scorer_stream(EVENTS, PEOPLE, seed)
            },
            |records| {
                for r in &records {
                    let person = r.event.person_id().expect("person");
                    *counters
                        .entry((workspace.clone(), person.into()))
                        .or_insert(0) += 1;
                }
            },
            BatchSize::LargeInput,
        )
    });

    let book = ProfileBook::new();
    let mut offset = 0i64;
    group.bench_function("apply_to_profiles", |b| {
        b.iter_batched(
            || {
                seed += 1;
                scorer_stream(EVENTS, PEOPLE, seed)
            },
            |records| {
                for r in &records {
                    offset += 1;
                    let (_, outcome) = book
                        .apply(r, Some((0, offset)), &model, &settings, 0)
                        .expect("person");
                    assert!(outcome.is_ok());
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
