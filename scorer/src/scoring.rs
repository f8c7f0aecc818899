//! Lead scoring, first cut: fixed points per event kind, and the marketing-qualified threshold.
//! (A configurable model with rules, caps, decay and grades replaces this table later; the
//! pipeline only calls [`Scoring::points`] and [`Scoring::stage_after`].)

use leadstream_schemas::{EventKind, LifecycleStage};

#[derive(Debug, Clone)]
pub struct Scoring {
    pub mql_threshold: f64,
}

impl Scoring {
    pub fn new(mql_threshold: f64) -> Scoring {
        Scoring { mql_threshold }
    }

    /// Points one event of `kind` is worth. Signals of interest add, signals of disinterest take
    /// away, bookkeeping events (sent, delivered, identify, …) are neutral.
    pub fn points(&self, kind: EventKind) -> f64 {
        use EventKind::*;
        match kind {
            PageViewed | ScreenViewed => 1.0,
            EmailOpened => 1.0,
            EmailClicked => 3.0,
            FileDownloaded => 5.0,
            WebinarRegistered => 8.0,
            FormSubmitted => 10.0,
            WebinarAttended => 15.0,
            SmsReceived => 3.0,
            PurchaseCompleted => 20.0,
            Custom => 1.0,
            EmailBounced => -5.0,
            EmailUnsubscribed | SmsOptedOut => -10.0,
            EmailComplained => -20.0,
            EmailSent | EmailDelivered | SmsSent | SmsDelivered | SmsFailed | Identify | Group
            | Alias => 0.0,
        }
    }

    /// The stage after a score change: a `name` whose score reaches the threshold is an MQL;
    /// later stages are changed only by hand-off, recycling and deals.
    pub fn stage_after(
        &self,
        stage: LifecycleStage,
        score: f64,
        kind: EventKind,
    ) -> LifecycleStage {
        match stage {
            _ if kind == EventKind::PurchaseCompleted => LifecycleStage::Customer,
            LifecycleStage::Name if score >= self.mql_threshold => LifecycleStage::Mql,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_the_threshold_makes_an_mql_once() {
        let s = Scoring::new(10.0);
        assert_eq!(
            s.stage_after(LifecycleStage::Name, 9.0, EventKind::PageViewed),
            LifecycleStage::Name
        );
        assert_eq!(
            s.stage_after(LifecycleStage::Name, 10.0, EventKind::PageViewed),
            LifecycleStage::Mql
        );
        assert_eq!(
            s.stage_after(LifecycleStage::Mql, 0.0, EventKind::EmailUnsubscribed),
            LifecycleStage::Mql
        );
        assert_eq!(
            s.stage_after(LifecycleStage::Mql, 30.0, EventKind::PurchaseCompleted),
            LifecycleStage::Customer
        );
    }

    #[test]
    fn disinterest_subtracts() {
        let s = Scoring::new(10.0);
        assert!(s.points(EventKind::EmailComplained) < 0.0);
        assert!(s.points(EventKind::FormSubmitted) > s.points(EventKind::PageViewed));
        assert_eq!(s.points(EventKind::EmailDelivered), 0.0);
    }
}
