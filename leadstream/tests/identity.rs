//! Identity resolution end to end: anonymous visitors identify, and their anonymous history counts
//! toward the known person, in embedded mode and with two scorer instances sharing the topic's
//! partitions (tansu + ClickHouse), where the anonymous and the known profile usually belong to
//! different instances and the merge goes through the log.

mod common;

use serde_json::{Value, json};

/// With librdkafka's default partitioner (CRC32 of the key) over 3 partitions, `acme/dev-0` and
/// `acme/user-0` land on partitions 0 and 2, `dev-2`/`user-2` and `dev-5`/`user-5` on 0 and 1: however
/// the two scorers split the partitions, at least one person's merge crosses from one to the other.
const PEOPLE: usize = 6;

/// For each person: two anonymous page views on a device, a known-user email click from another
/// device, the `identify` that ties the device to the person, then one more anonymous-only page.
fn batches() -> Vec<Value> {
    let mut first = Vec::new();
    let mut second = Vec::new();
    for i in 0..PEOPLE {
        let (dev, user) = (format!("dev-{i}"), format!("user-{i}"));
        first.push(json!({"type": "page", "anonymousId": dev, "context": {"page": {"url": "https://acme.io/pricing"}}, "messageId": format!("p1-{i}")}));
        first.push(json!({"type": "page", "anonymousId": dev, "context": {"page": {"url": "https://acme.io/docs"}}, "messageId": format!("p2-{i}")}));
        first.push(json!({"type": "track", "userId": user, "event": "Email Clicked", "properties": {"email_id": "e1", "link_url": "https://acme.io"}, "messageId": format!("c-{i}")}));
        second.push(json!({"type": "identify", "userId": user, "anonymousId": dev, "traits": {"email": format!("{user}@corp.io")}, "messageId": format!("id-{i}")}));
    }
    let mut third = Vec::new();
    for i in 0..PEOPLE {
        third.push(json!({"type": "page", "anonymousId": format!("dev-{i}"), "context": {"page": {"url": "https://acme.io/blog"}}, "messageId": format!("p3-{i}")}));
    }
    // Illegal ids never identify anybody: this identify counts for user-0 alone.
    third.push(json!({"type": "identify", "userId": "user-0", "anonymousId": "undefined", "messageId": "bad-anon"}));
    vec![
        json!({"batch": first}),
        json!({"batch": second}),
        json!({"batch": third}),
    ]
}

async fn check(runs: &[&common::Running]) {
    let posted_through = runs[0];
    for batch in batches() {
        let (status, body) = posted_through.post_batch(&batch).await;
        assert_eq!(status, 200, "{body}");
        // Each batch in order, as a browser would send them.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    for i in 0..PEOPLE {
        let user = format!("user-{i}");
        let want = if i == 0 { 6 } else { 5 };
        let p = runs[i % runs.len()]
            .wait_for_profile(&user, |p| p["event_count"] == want)
            .await;
        assert_eq!(p["merged_ids"], json!([format!("dev-{i}")]), "{p}");
        assert_eq!(p["counts"]["page_viewed"], 3, "{p}");
        assert_eq!(p["counts"]["email_clicked"], 1, "{p}");
        assert_eq!(p["pages"][0], "/pricing", "the path starts anonymous: {p}");
        // The default model: the anonymous pricing visit is buying intent.
        assert_eq!(p["scores"]["buying_intent"], 5.0, "{p}");
        // The device's id answers with the person.
        let (status, dev) = runs[0]
            .get_profile(&format!("dev-{i}"), common::TOKEN)
            .await;
        assert_eq!(status, 200, "{dev}");
        assert_eq!(dev["profile_id"], user, "{dev}");
    }
    let (status, body) = runs[0].get_profile("undefined", common::TOKEN).await;
    assert_eq!(status, 404, "an illegal id is nobody: {body}");
    // The known-person event stays in place after settling (nothing counted twice).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (_, p) = runs[0].get_profile("user-1", common::TOKEN).await;
    assert_eq!(p["event_count"], 5, "{p}");
}

#[tokio::test]
async fn anonymous_history_counts_toward_the_person_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    check(&[&running]).await;
    running.stop().await;
}

#[tokio::test]
async fn merges_go_through_the_log_between_two_scorers_sharing_partitions() {
    let config = common::distributed_config();
    let mut second_config = config.clone();
    second_config.data_dir = std::env::temp_dir().join(common::unique("leadstream_e2e_data"));
    let first = common::start(config.clone()).await;
    let second = common::start(second_config).await;
    // Both scorers own part of the topic before anything is sent.
    let topic = format!("topic=\"{}\"", config.kafka.events_topic);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = first.metrics().await;
        let owners = text
            .lines()
            .filter(|l| {
                l.starts_with("leadstream_consumer_assigned_partitions{") && l.contains(&topic)
            })
            .filter(|l| l.rsplit(' ').next().is_some_and(|n| n != "0"))
            .count();
        if owners >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the two scorers never shared the partitions:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    check(&[&first, &second]).await;
    first.stop().await;
    second.stop().await;
    common::drop_database(&config.clickhouse).await;
}
