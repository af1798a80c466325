//! How IAM evaluates a `Condition`: every operator of the IAM reference, `...IfExists`, the
//! `ForAnyValue:` and `ForAllValues:` set qualifiers, and policy variables (`${aws:username}`,
//! `${key, 'default'}`, `${*}`, `${?}`, `${$}`) in resources and condition values.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};

/// A request's context keys: single-valued keys hold one value, multivalued keys
/// (`aws:TagKeys`, `events:TargetArn`) any number.
pub type RequestContext = BTreeMap<String, Vec<String>>;

/// `[ForAnyValue:|ForAllValues:]<operator>[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// The set qualifier.
    pub qualifier: Qualifier,
    /// The operator without qualifier or suffix.
    pub base: Base,
    /// Whether `IfExists` is appended: a missing key matches.
    pub if_exists: bool,
}

/// How a condition treats a multivalued key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// No set qualifier: the key is single-valued (a multivalued key matches if any value does).
    Single,
    /// `ForAnyValue:`: some value matches (false for a missing key).
    ForAnyValue,
    /// `ForAllValues:`: every value matches (true for a missing key).
    ForAllValues,
}

/// A condition operator of the IAM reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Exact, case-sensitive.
    StringEquals,
    /// Negated `StringEquals`.
    StringNotEquals,
    /// Exact, ignoring case.
    StringEqualsIgnoreCase,
    /// Negated `StringEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// With `*` and `?` wildcards.
    StringLike,
    /// Negated `StringLike`.
    StringNotLike,
    /// Numbers equal.
    NumericEquals,
    /// Numbers differ.
    NumericNotEquals,
    /// The key's number is less.
    NumericLessThan,
    /// Less or equal.
    NumericLessThanEquals,
    /// Greater.
    NumericGreaterThan,
    /// Greater or equal.
    NumericGreaterThanEquals,
    /// Dates equal.
    DateEquals,
    /// Dates differ.
    DateNotEquals,
    /// The key's date is earlier.
    DateLessThan,
    /// Earlier or equal.
    DateLessThanEquals,
    /// Later.
    DateGreaterThan,
    /// Later or equal.
    DateGreaterThanEquals,
    /// `true` or `false`.
    Bool,
    /// Base64 bytes equal.
    BinaryEquals,
    /// The address is in a CIDR range.
    IpAddress,
    /// Negated `IpAddress`.
    NotIpAddress,
    /// ARNs equal, part by part, with wildcards.
    ArnEquals,
    /// As `ArnEquals`.
    ArnLike,
    /// Negated `ArnEquals`.
    ArnNotEquals,
    /// Negated `ArnLike`.
    ArnNotLike,
    /// Whether the key is absent (`true`) or present (`false`).
    Null,
}

const BASES: [(&str, Base); 27] = [
    ("StringEquals", Base::StringEquals),
    ("StringNotEquals", Base::StringNotEquals),
    ("StringEqualsIgnoreCase", Base::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Base::StringNotEqualsIgnoreCase),
    ("StringLike", Base::StringLike),
    ("StringNotLike", Base::StringNotLike),
    ("NumericEquals", Base::NumericEquals),
    ("NumericNotEquals", Base::NumericNotEquals),
    ("NumericLessThan", Base::NumericLessThan),
    ("NumericLessThanEquals", Base::NumericLessThanEquals),
    ("NumericGreaterThan", Base::NumericGreaterThan),
    ("NumericGreaterThanEquals", Base::NumericGreaterThanEquals),
    ("DateEquals", Base::DateEquals),
    ("DateNotEquals", Base::DateNotEquals),
    ("DateLessThan", Base::DateLessThan),
    ("DateLessThanEquals", Base::DateLessThanEquals),
    ("DateGreaterThan", Base::DateGreaterThan),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals),
    ("Bool", Base::Bool),
    ("BinaryEquals", Base::BinaryEquals),
    ("IpAddress", Base::IpAddress),
    ("NotIpAddress", Base::NotIpAddress),
    ("ArnEquals", Base::ArnEquals),
    ("ArnLike", Base::ArnLike),
    ("ArnNotEquals", Base::ArnNotEquals),
    ("ArnNotLike", Base::ArnNotLike),
    ("Null", Base::Null),
];

impl Operator {
    /// Parses an operator as IAM spells it; anything else is an error, so that a condition this
    /// evaluator cannot read is never silently taken as false (which would void a Deny).
    pub fn parse(text: &str) -> Result<Self, String> {
        let unknown = || format!("unknown condition operator {text:?}");
        let (qualifier, rest) = if let Some(rest) = text.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, rest)
        } else if let Some(rest) = text.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, rest)
        } else {
            (Qualifier::Single, text)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        let base = BASES
            .iter()
            .find(|(name, _)| *name == rest)
            .map(|(_, base)| *base)
            .ok_or_else(unknown)?;
        if base == Base::Null && (if_exists || qualifier != Qualifier::Single) {
            return Err(unknown());
        }
        Ok(Self {
            qualifier,
            base,
            if_exists,
        })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let qualifier = match self.qualifier {
            Qualifier::Single => "",
            Qualifier::ForAnyValue => "ForAnyValue:",
            Qualifier::ForAllValues => "ForAllValues:",
        };
        let base = BASES
            .iter()
            .find(|(_, base)| *base == self.base)
            .map(|(name, _)| *name)
            .unwrap_or_default();
        let suffix = if self.if_exists { "IfExists" } else { "" };
        write!(f, "{qualifier}{base}{suffix}")
    }
}

impl Base {
    /// The positive operator a negated one is the complement of.
    fn positive(self) -> (Base, bool) {
        match self {
            Base::StringNotEquals => (Base::StringEquals, true),
            Base::StringNotEqualsIgnoreCase => (Base::StringEqualsIgnoreCase, true),
            Base::StringNotLike => (Base::StringLike, true),
            Base::NumericNotEquals => (Base::NumericEquals, true),
            Base::DateNotEquals => (Base::DateEquals, true),
            Base::NotIpAddress => (Base::IpAddress, true),
            Base::ArnNotEquals => (Base::ArnEquals, true),
            Base::ArnNotLike => (Base::ArnLike, true),
            other => (other, false),
        }
    }
}

/// One condition of a statement: an operator, a key and the values it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// The context key.
    pub variable: String,
    /// The values, after policy variables are resolved.
    pub values: Vec<String>,
}

impl Condition {
    /// Whether the condition holds for `context`, as IAM decides it.
    pub fn holds(&self, context: &RequestContext) -> bool {
        let present: &[String] = lookup(context, &self.variable).map(Vec::as_slice).unwrap_or(&[]);
        let operator = self.operator;
        if operator.base == Base::Null {
            let absent = present.is_empty();
            return self
                .values
                .iter()
                .any(|value| value.eq_ignore_ascii_case("true") == absent);
        }
        let (positive, negated) = operator.base.positive();
        if present.is_empty() {
            if operator.if_exists {
                return true;
            }
            return match operator.qualifier {
                // A missing key matches no positive operator and every negated one.
                Qualifier::Single => negated,
                Qualifier::ForAnyValue => false,
                Qualifier::ForAllValues => true,
            };
        }
        let one = |value: &str| self.matches(positive, value, context) != negated;
        match operator.qualifier {
            // Single-valued operators on a multivalued key: any value for a positive operator,
            // none for a negated one.
            Qualifier::Single if negated => present.iter().all(|value| one(value)),
            Qualifier::Single | Qualifier::ForAnyValue => present.iter().any(|value| one(value)),
            Qualifier::ForAllValues => present.iter().all(|value| one(value)),
        }
    }

    /// Whether the request's `value` matches any of the condition's values under `base` (a
    /// positive operator). A value whose policy variable has no value in the request matches
    /// nothing.
    fn matches(&self, base: Base, value: &str, context: &RequestContext) -> bool {
        self.values.iter().any(|expected| {
            let Some(pattern) = Pattern::compile(expected, Some(context)) else {
                return false;
            };
            match base {
                Base::StringEquals | Base::ArnEquals | Base::BinaryEquals => pattern.literal() == value,
                Base::StringEqualsIgnoreCase => pattern.literal().eq_ignore_ascii_case(value),
                Base::StringLike => pattern.matches(value),
                Base::ArnLike => arn_like(&pattern, value),
                Base::Bool => pattern.literal().eq_ignore_ascii_case(value),
                Base::NumericEquals
                | Base::NumericLessThan
                | Base::NumericLessThanEquals
                | Base::NumericGreaterThan
                | Base::NumericGreaterThanEquals => {
                    match (
                        value.trim().parse::<f64>(),
                        pattern.literal().trim().parse::<f64>(),
                    ) {
                        (Ok(actual), Ok(expected)) => compare(base, actual.partial_cmp(&expected)),
                        _ => false,
                    }
                }
                Base::DateEquals
                | Base::DateLessThan
                | Base::DateLessThanEquals
                | Base::DateGreaterThan
                | Base::DateGreaterThanEquals => match (date(value), date(&pattern.literal())) {
                    (Some(actual), Some(expected)) => compare(base, actual.partial_cmp(&expected)),
                    _ => false,
                },
                Base::IpAddress => ip_in(value, &pattern.literal()),
                _ => false,
            }
        })
    }
}

fn compare(base: Base, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match (base, ordering) {
        (_, None) => false,
        (Base::NumericEquals | Base::DateEquals, Some(o)) => o == Equal,
        (Base::NumericLessThan | Base::DateLessThan, Some(o)) => o == Less,
        (Base::NumericLessThanEquals | Base::DateLessThanEquals, Some(o)) => o != Greater,
        (Base::NumericGreaterThan | Base::DateGreaterThan, Some(o)) => o == Greater,
        (Base::NumericGreaterThanEquals | Base::DateGreaterThanEquals, Some(o)) => o != Less,
        _ => false,
    }
}

/// An ISO 8601 date and time, a date (midnight UTC), or seconds since the epoch.
fn date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return day.and_hms_opt(0, 0, 0).map(|at| at.and_utc());
    }
    text.parse::<i64>()
        .ok()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

/// `value` (an address) inside `range` (a CIDR block, or one address).
fn ip_in(value: &str, range: &str) -> bool {
    let Ok(address) = value.trim().parse::<IpAddr>() else {
        return false;
    };
    match range.trim().parse::<ipnet::IpNet>() {
        Ok(network) => network.contains(&address),
        Err(_) => range.trim().parse::<IpAddr>() == Ok(address),
    }
}

/// `ArnLike`: each of an ARN's six colon-separated parts is matched on its own, so a wildcard
/// never spans a colon before the resource part.
fn arn_like(pattern: &Pattern, value: &str) -> bool {
    let parts = pattern.split_arn();
    let values: Vec<&str> = value.splitn(6, ':').collect();
    parts.len() == values.len() && parts.iter().zip(values).all(|(part, value)| part.matches(value))
}

fn lookup<'a>(context: &'a RequestContext, key: &str) -> Option<&'a Vec<String>> {
    context
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(key))
        .map(|(_, values)| values)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters.
    AnyRun,
    /// `?`: any one character.
    AnyOne,
}

/// A resource or condition value with its policy variables resolved, as wildcard tokens (a
/// `*` that came from `${*}` is a literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Token>);

impl Pattern {
    /// Resolves the policy variables of `text` in `context`. Without a context (`None`: "some
    /// request"), a variable may be anything. `None` when a variable has no value and no
    /// default: IAM then matches nothing with that element.
    pub fn compile(text: &str, context: Option<&RequestContext>) -> Option<Self> {
        let mut tokens = Vec::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            literal_tokens(&rest[..start], &mut tokens);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                literal_tokens(&rest[start..], &mut tokens);
                return Some(Self(tokens));
            };
            let variable = &after[..end];
            rest = &after[end + 1..];
            match variable {
                "*" => tokens.push(Token::Literal('*')),
                "?" => tokens.push(Token::Literal('?')),
                "$" => tokens.push(Token::Literal('$')),
                _ => {
                    let (key, default) = match variable.split_once(',') {
                        Some((key, default)) => {
                            let default = default.trim();
                            let quoted = default
                                .strip_prefix('\'')
                                .and_then(|inner| inner.strip_suffix('\''));
                            (key.trim(), quoted)
                        }
                        None => (variable.trim(), None),
                    };
                    let Some(context) = context else {
                        tokens.push(Token::AnyRun);
                        continue;
                    };
                    // A multivalued key cannot be a policy variable.
                    let value = match lookup(context, key).map(Vec::as_slice) {
                        Some([single]) => Some(single.as_str()),
                        _ => default,
                    }?;
                    tokens.extend(value.chars().map(Token::Literal));
                }
            }
        }
        literal_tokens(rest, &mut tokens);
        Some(Self(tokens))
    }

    /// The pattern as text, wildcards as `*` and `?`: what equality operators compare.
    fn literal(&self) -> String {
        self.0
            .iter()
            .map(|token| match token {
                Token::Literal(c) => *c,
                Token::AnyRun => '*',
                Token::AnyOne => '?',
            })
            .collect()
    }

    /// Whether `text` matches the pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        matches_tokens(&self.0, &text)
    }

    /// Case-insensitive match (actions).
    pub fn matches_ignoring_case(&self, text: &str) -> bool {
        let lower = Self(
            self.0
                .iter()
                .map(|token| match token {
                    Token::Literal(c) => Token::Literal(c.to_ascii_lowercase()),
                    other => *other,
                })
                .collect(),
        );
        lower.matches(&text.to_ascii_lowercase())
    }

    fn split_arn(&self) -> Vec<Pattern> {
        let mut parts = vec![Vec::new()];
        for token in &self.0 {
            match token {
                Token::Literal(':') if parts.len() < 6 => parts.push(Vec::new()),
                other => {
                    if let Some(last) = parts.last_mut() {
                        last.push(*other);
                    }
                }
            }
        }
        parts.into_iter().map(Pattern).collect()
    }
}

fn literal_tokens(text: &str, tokens: &mut Vec<Token>) {
    tokens.extend(text.chars().map(|c| match c {
        '*' => Token::AnyRun,
        '?' => Token::AnyOne,
        other => Token::Literal(other),
    }));
}

/// Wildcard matching without recursion: backtracks to the last `*` only.
fn matches_tokens(pattern: &[Token], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::AnyRun) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Token::AnyOne) => {
                p += 1;
                t += 1;
            }
            Some(Token::Literal(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|token| *token == Token::AnyRun)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(entries: &[(&str, &[&str])]) -> RequestContext {
        entries
            .iter()
            .map(|(key, values)| (key.to_string(), values.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    fn condition(operator: &str, variable: &str, values: &[&str]) -> Condition {
        Condition {
            operator: Operator::parse(operator).unwrap_or_else(|error| panic!("{error}")),
            variable: variable.to_owned(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn operators_round_trip_and_unknown_ones_are_refused() {
        for text in [
            "StringEquals",
            "ForAnyValue:StringLike",
            "ForAllValues:ArnLikeIfExists",
            "NumericLessThanEquals",
            "DateGreaterThan",
            "Null",
        ] {
            assert_eq!(Operator::parse(text).map(|o| o.to_string()), Ok(text.to_owned()));
        }
        for text in [
            "StringEqual",
            "ForEveryValue:StringEquals",
            "NullIfExists",
            "ForAnyValue:Null",
        ] {
            assert!(Operator::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_missing_key_follows_iam() {
        let empty = RequestContext::new();
        assert!(!condition("StringEquals", "k", &["v"]).holds(&empty));
        assert!(condition("StringNotEquals", "k", &["v"]).holds(&empty));
        assert!(condition("StringEqualsIfExists", "k", &["v"]).holds(&empty));
        assert!(!condition("ForAnyValue:StringEquals", "k", &["v"]).holds(&empty));
        assert!(!condition("ForAnyValue:StringNotEquals", "k", &["v"]).holds(&empty));
        assert!(condition("ForAllValues:StringEquals", "k", &["v"]).holds(&empty));
        assert!(condition("Null", "k", &["true"]).holds(&empty));
        assert!(!condition("Null", "k", &["false"]).holds(&empty));
    }

    #[test]
    fn set_qualifiers_follow_iam() {
        let keys = context(&[("aws:TagKeys", &["Project", "Environment"])]);
        let any = condition("ForAnyValue:StringEquals", "aws:TagKeys", &["Environment"]);
        let all = condition("ForAllValues:StringEquals", "aws:TagKeys", &["Project", "Owner"]);
        assert!(any.holds(&keys));
        assert!(!all.holds(&keys), "Environment is not among the allowed keys");
        assert!(
            condition(
                "ForAllValues:StringEquals",
                "aws:TagKeys",
                &["Project", "Environment"]
            )
            .holds(&keys)
        );
        let none_of = condition("ForAllValues:StringNotEquals", "aws:TagKeys", &["Environment"]);
        assert!(!none_of.holds(&keys));
        let targets = context(&[(
            "events:TargetArn",
            &[
                "arn:aws:sqs:eu-west-1:1:webhooks-dev-events",
                "arn:aws:sqs:eu-west-1:1:webhooks-prod-events",
            ],
        )]);
        let own = condition(
            "ForAllValues:ArnLike",
            "events:TargetArn",
            &["arn:aws:sqs:eu-west-1:1:webhooks-dev-*"],
        );
        assert!(!own.holds(&targets), "one target is another environment's");
        // Without a qualifier a negated operator needs every value to differ.
        let not_env = condition("StringNotEquals", "aws:TagKeys", &["Environment"]);
        assert!(!not_env.holds(&keys));
    }

    #[test]
    fn numbers_dates_addresses_and_booleans_compare_as_such() {
        let ctx = context(&[
            ("n", &["5"]),
            ("at", &["2025-06-01T00:00:00Z"]),
            ("ip", &["10.1.2.3"]),
            ("mfa", &["TRUE"]),
        ]);
        assert!(condition("NumericLessThan", "n", &["10"]).holds(&ctx));
        assert!(!condition("NumericGreaterThan", "n", &["10"]).holds(&ctx));
        assert!(condition("NumericEquals", "n", &["5.0"]).holds(&ctx));
        assert!(!condition("NumericEquals", "n", &["five"]).holds(&ctx));
        assert!(condition("DateLessThan", "at", &["2026-01-01T00:00:00Z"]).holds(&ctx));
        assert!(condition("DateGreaterThanEquals", "at", &["2025-06-01"]).holds(&ctx));
        assert!(
            condition("DateLessThan", "at", &["1767225600"]).holds(&ctx),
            "epoch seconds"
        );
        assert!(condition("IpAddress", "ip", &["10.0.0.0/8"]).holds(&ctx));
        assert!(condition("NotIpAddress", "ip", &["192.168.0.0/16"]).holds(&ctx));
        assert!(condition("Bool", "mfa", &["true"]).holds(&ctx));
    }

    #[test]
    fn arn_like_matches_part_by_part() {
        let ctx = context(&[("arn", &["arn:aws:sqs:eu-west-1:123:queue"])]);
        assert!(condition("ArnLike", "arn", &["arn:aws:sqs:*:123:*"]).holds(&ctx));
        assert!(
            !condition("ArnLike", "arn", &["arn:aws:sqs:*"]).holds(&ctx),
            "a wildcard does not span the region, account and resource"
        );
        assert!(condition("StringLike", "arn", &["arn:aws:sqs:*"]).holds(&ctx));
    }

    #[test]
    fn policy_variables_resolve_from_the_request() {
        let ctx = context(&[("aws:PrincipalTag/env", &["dev"]), ("aws:TagKeys", &["a", "b"])]);
        let pattern = |text| Pattern::compile(text, Some(&ctx));
        assert!(pattern("queue/${aws:PrincipalTag/env}-*").is_some_and(|p| p.matches("queue/dev-events")));
        assert!(pattern("queue/${aws:PrincipalTag/env}-*").is_some_and(|p| !p.matches("queue/prod-events")));
        assert_eq!(
            pattern("queue/${aws:username}"),
            None,
            "no value, no default: matches nothing"
        );
        assert!(pattern("queue/${aws:username, 'shared'}").is_some_and(|p| p.matches("queue/shared")));
        assert_eq!(
            pattern("${aws:TagKeys}"),
            None,
            "a multivalued key is no variable"
        );
        let star = pattern("literal${*}").unwrap_or_else(|| Pattern(Vec::new()));
        assert!(star.matches("literal*") && !star.matches("literally"));
        let any = Pattern::compile("queue/${aws:username}", None);
        assert!(
            any.is_some_and(|p| p.matches("queue/anyone")),
            "without a request: anything"
        );
        let in_condition = condition(
            "StringEquals",
            "aws:ResourceTag/env",
            &["${aws:PrincipalTag/env}"],
        );
        let mut tagged = ctx.clone();
        tagged.insert("aws:ResourceTag/env".to_owned(), vec!["dev".to_owned()]);
        assert!(in_condition.holds(&tagged));
        tagged.insert("aws:ResourceTag/env".to_owned(), vec!["prod".to_owned()]);
        assert!(!in_condition.holds(&tagged));
    }

    #[test]
    fn wildcards_match_without_recursion() {
        let long = "a".repeat(10_000);
        let pattern =
            Pattern::compile(&format!("{}b", "*a".repeat(50)), None).unwrap_or_else(|| Pattern(Vec::new()));
        assert!(!pattern.matches(&long));
        let question = Pattern::compile("a?c*", None).unwrap_or_else(|| Pattern(Vec::new()));
        assert!(question.matches("abcdef") && !question.matches("ac"));
    }
}
