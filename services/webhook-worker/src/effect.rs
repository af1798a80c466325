//! What an event changes, decided from the event alone (no I/O), so it is tested without AWS.

use webhook_event::StripeEvent;

/// The state change an event asks for. It commits atomically with the event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A payment failed: the customer's subscription becomes `past_due` and a notification is
    /// recorded as pending, for a sender to pick up.
    PaymentFailed {
        /// The Stripe customer whose payment failed.
        customer_id: String,
        /// Stripe's failure message, when the event carries one.
        reason: Option<String>,
        /// Where to tell the customer: the invoice's `customer_email` or the payment's
        /// `receipt_email`, when the event carries one.
        email: Option<String>,
    },
    /// The subscription's new status, as Stripe reports it.
    SubscriptionStatus {
        /// The Stripe customer the subscription belongs to.
        customer_id: String,
        /// The subscription's id, when the event carries one.
        subscription_id: Option<String>,
        /// Stripe's status, e.g. `active` or `past_due`.
        status: String,
    },
    /// Stored for the record; nothing else changes.
    Ignored {
        /// Why nothing else changes, e.g. the event type is not handled.
        reason: &'static str,
    },
}

/// The status a payment failure puts the subscription in.
pub const PAST_DUE: &str = "past_due";

impl Effect {
    /// The effect `event` has, from its type and object.
    pub fn of(event: &StripeEvent) -> Effect {
        match event.event_type() {
            "payment_intent.payment_failed" | "invoice.payment_failed" | "charge.failed" => {
                match event.customer_id() {
                    Some(customer_id) => Effect::PaymentFailed {
                        customer_id: customer_id.to_owned(),
                        reason: failure_reason(event),
                        email: event
                            .object_str("customer_email")
                            .or_else(|| event.object_str("receipt_email"))
                            .filter(|email| !email.is_empty())
                            .map(str::to_owned),
                    },
                    None => Effect::Ignored {
                        reason: "payment failure without a customer",
                    },
                }
            }
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => {
                let status = if event.event_type() == "customer.subscription.deleted" {
                    Some("canceled")
                } else {
                    event.object_str("status").filter(|status| is_status(status))
                };
                match (event.customer_id(), status) {
                    (Some(customer_id), Some(status)) => Effect::SubscriptionStatus {
                        customer_id: customer_id.to_owned(),
                        subscription_id: event.object_str("id").map(str::to_owned),
                        status: status.to_owned(),
                    },
                    (None, _) => Effect::Ignored {
                        reason: "subscription event without a customer",
                    },
                    (_, None) => Effect::Ignored {
                        reason: "subscription event without a usable status",
                    },
                }
            }
            _ => Effect::Ignored {
                reason: "event type not handled",
            },
        }
    }

    /// The customer whose subscription changes, if any.
    pub fn customer_id(&self) -> Option<&str> {
        match self {
            Effect::PaymentFailed { customer_id, .. } | Effect::SubscriptionStatus { customer_id, .. } => {
                Some(customer_id)
            }
            Effect::Ignored { .. } => None,
        }
    }
}

/// A plausible subscription status: Stripe adds statuses over time, so any short lowercase word.
fn is_status(status: &str) -> bool {
    !status.is_empty() && status.len() <= 32 && status.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

fn failure_reason(event: &StripeEvent) -> Option<String> {
    let object = event.object();
    object
        .get("last_payment_error")
        .and_then(|error| error.get("message"))
        .or_else(|| object.get("failure_message"))
        .and_then(serde_json::Value::as_str)
        .map(|message| message.chars().take(500).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str, object: serde_json::Value) -> StripeEvent {
        let body = json!({
            "id": "evt_1", "type": event_type, "created": 1, "livemode": false,
            "data": {"object": object}
        });
        StripeEvent::parse(body.to_string().as_bytes()).expect("valid event")
    }

    #[test]
    fn payment_failures_mark_the_customer_with_the_reason() {
        let effect = Effect::of(&event(
            "payment_intent.payment_failed",
            json!({"customer": "cus_1", "last_payment_error": {"message": "Card declined."}}),
        ));
        assert_eq!(
            effect,
            Effect::PaymentFailed {
                customer_id: "cus_1".into(),
                reason: Some("Card declined.".into()),
                email: None,
            }
        );
        let invoice = Effect::of(&event(
            "invoice.payment_failed",
            json!({"customer": "cus_2", "customer_email": "jo@example.com"}),
        ));
        assert_eq!(invoice.customer_id(), Some("cus_2"));
        assert!(
            matches!(invoice, Effect::PaymentFailed { email: Some(email), .. } if email == "jo@example.com")
        );
    }

    #[test]
    fn subscription_events_carry_the_new_status() {
        let updated = Effect::of(&event(
            "customer.subscription.updated",
            json!({"id": "sub_1", "customer": "cus_1", "status": "active"}),
        ));
        assert_eq!(
            updated,
            Effect::SubscriptionStatus {
                customer_id: "cus_1".into(),
                subscription_id: Some("sub_1".into()),
                status: "active".into()
            }
        );
        let deleted = Effect::of(&event(
            "customer.subscription.deleted",
            json!({"id": "sub_1", "customer": "cus_1", "status": "active"}),
        ));
        assert!(matches!(deleted, Effect::SubscriptionStatus { status, .. } if status == "canceled"));
    }

    #[test]
    fn what_cannot_be_applied_is_ignored_with_a_reason() {
        let cases = [
            event("payment_intent.payment_failed", json!({})),
            event("customer.subscription.updated", json!({"customer": "cus_1"})),
            event(
                "customer.subscription.updated",
                json!({"customer": "cus_1", "status": "Weird Status"}),
            ),
            event("charge.dispute.created", json!({"customer": "cus_1"})),
        ];
        for case in cases {
            assert!(matches!(Effect::of(&case), Effect::Ignored { .. }), "{case:?}");
        }
    }
}
