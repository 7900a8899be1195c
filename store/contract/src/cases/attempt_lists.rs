//! The account's attempts as `/Attempts` lists them: every filter alone and together, newest
//! first, page by page both ways, each with what became of its verification; counted by the
//! database as listed; never another account's.

use verifyd_core::domain::sending::Attempt;
use verifyd_core::domain::verification::Verification;
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{AttemptFilter, AttemptRecord, Change, Cursor, Decision, Store, VerificationAt};
use verifyd_models::{VerificationChannel, VerificationStatus};
use verifyd_runtime::{Sid, Timestamp};

use crate::fixtures::{add_service, at_sid, attempt_filter, newest, save, send_attempt, t, tenant, verification};

/// One attempt as the suite made it, and what its verification became.
struct Made {
    attempt: Attempt,
    status: Option<VerificationStatus>,
}

/// An attempt of `v` made at `at` on `channel` to its `To`, in `country`.
fn attempt_of(v: &Verification, channel: VerificationChannel, country: Option<&str>, at: Timestamp) -> Attempt {
    let mut attempt = send_attempt(v, at);
    attempt.channel = channel;
    attempt.country = country.map(str::to_owned);
    attempt
}

/// Whether `filter` selects `made` (the rules `/Attempts` states, for comparison).
fn selects(filter: &AttemptFilter, made: &Made) -> bool {
    let a = &made.attempt;
    a.account_sid == filter.account
        && filter.service.as_ref().is_none_or(|s| *s == a.service_sid)
        && filter.verification.as_ref().is_none_or(|v| *v == a.verification_sid)
        && filter.to.as_ref().is_none_or(|to| *to == a.to)
        && filter.to_prefix.as_ref().is_none_or(|p| a.to.starts_with(p.as_str()))
        && filter.country.as_ref().is_none_or(|c| a.country.as_ref() == Some(c))
        && filter.channel.as_ref().is_none_or(|c| c == a.channel.as_str())
        && filter.converted.is_none_or(|c| c == (made.status == Some(VerificationStatus::Approved)))
        && filter.created_after.is_none_or(|after| a.date_created >= after)
        && filter.created_before.is_none_or(|before| a.date_created < before)
}

fn sids(records: &[AttemptRecord]) -> Vec<&Sid> {
    records.iter().map(|r| &r.attempt.sid).collect()
}

/// Two accounts' attempts: A's of several services, verifications, numbers, countries,
/// channels and times (one of a verification that is gone), B's to the same numbers. A's
/// first verification is then approved and another canceled. Answers A's and B's attempts, in
/// the order made.
async fn attempts<S: Store>(store: &S) -> (Sid, Vec<Made>, Sid, Vec<Made>) {
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let second = add_service(store, a.sid(), "second").await;
    let approved = verification(&a.service, "+15550000001", t(0));
    let canceled = verification(&a.service, "+15550000002", t(0));
    let pending = verification(&second, "+447911123456", t(0));
    let mut email = verification(&second, "a_b@example.com", t(0));
    email.channel = VerificationChannel::Email;
    let gone = verification(&a.service, "+15551000001", t(0));
    let lookalike = verification(&second, "axb@example.com", t(0));
    let theirs = verification(&b.service, "+15550000001", t(0));
    use VerificationChannel::{Call, Email, Sms, Whatsapp};
    // Times out of creation order: lists follow creation, filters the times.
    let made = [
        attempt_of(&approved, Sms, Some("US"), t(100)),
        attempt_of(&canceled, Sms, Some("US"), t(50)),
        attempt_of(&pending, Sms, Some("GB"), t(300)),
        attempt_of(&approved, Call, Some("US"), t(200)),
        attempt_of(&email, Email, None, t(150)),
        attempt_of(&gone, Sms, Some("US"), t(400)),
        attempt_of(&pending, Whatsapp, Some("GB"), t(250)),
        attempt_of(&lookalike, Email, None, t(350)),
        attempt_of(&canceled, Call, Some("US"), t(500)),
        attempt_of(&approved, Sms, Some("US"), t(450)),
    ];
    let their_made = [attempt_of(&theirs, Sms, Some("US"), t(100)), attempt_of(&theirs, Call, Some("US"), t(300))];
    let mut changes: Vec<Change> = [&approved, &canceled, &pending, &email, &lookalike, &theirs]
        .into_iter()
        .map(|v| Change::InsertVerification(v.clone()))
        .collect();
    changes.extend(made.iter().chain(&their_made).map(|x| Change::InsertAttempt(x.clone())));
    save(store, changes).await;
    for (v, status) in [(&approved, VerificationStatus::Approved), (&canceled, VerificationStatus::Canceled)] {
        store
            .with_verification(at_sid(v), move |found| {
                let Some(mut v) = found else { return Decision::nothing(()) };
                v.status = status;
                v.date_updated = t(600);
                Decision::save(vec![Change::UpdateVerification(v)], ())
            })
            .await
            .unwrap();
    }
    let status_of = |x: &Attempt| {
        [(&approved, Some(VerificationStatus::Approved)), (&canceled, Some(VerificationStatus::Canceled))]
            .into_iter()
            .chain([&pending, &email, &lookalike, &theirs].map(|v| (v, Some(VerificationStatus::Pending))))
            .find(|(v, _)| v.sid == x.verification_sid)
            .and_then(|(_, status)| status)
    };
    let of = |attempts: &[Attempt]| {
        attempts.iter().map(|x| Made { attempt: x.clone(), status: status_of(x) }).collect::<Vec<_>>()
    };
    (a.sid().clone(), of(&made), b.sid().clone(), of(&their_made))
}

/// Each filter alone and with others selects the attempts it states, newest first, each
/// with its verification's stored status and expiry (none when the verification is gone);
/// `count_attempts` counts what is listed, and how many of them converted.
pub async fn attempts_are_listed_by_every_filter<S: Store>(store: S) {
    let (a, made, _, _) = attempts(&store).await;
    let every = attempt_filter(&a);
    let at = |i: usize| made[i].attempt.clone();
    let filters: Vec<(&str, AttemptFilter)> = vec![
        ("none", every.clone()),
        ("service", AttemptFilter { service: Some(at(2).service_sid), ..every.clone() }),
        ("verification", AttemptFilter { verification: Some(at(0).verification_sid), ..every.clone() }),
        ("to", AttemptFilter { to: Some("+15550000001".into()), ..every.clone() }),
        ("to prefix", AttemptFilter { to_prefix: Some("+1555000000".into()), ..every.clone() }),
        ("to prefix of one", AttemptFilter { to_prefix: Some("+4479".into()), ..every.clone() }),
        ("to prefix that LIKE would widen", AttemptFilter { to_prefix: Some("a_b".into()), ..every.clone() }),
        ("to prefix of none", AttemptFilter { to_prefix: Some("+1555%".into()), ..every.clone() }),
        ("to prefix, the whole To", AttemptFilter { to_prefix: Some("+15551000001".into()), ..every.clone() }),
        ("country", AttemptFilter { country: Some("GB".into()), ..every.clone() }),
        ("channel", AttemptFilter { channel: Some("call".into()), ..every.clone() }),
        ("email", AttemptFilter { channel: Some("email".into()), ..every.clone() }),
        ("converted", AttemptFilter { converted: Some(true), ..every.clone() }),
        ("unconverted", AttemptFilter { converted: Some(false), ..every.clone() }),
        ("created after (inclusive)", AttemptFilter { created_after: Some(t(250)), ..every.clone() }),
        ("created before (exclusive)", AttemptFilter { created_before: Some(t(250)), ..every.clone() }),
        (
            "service, channel and a time range",
            AttemptFilter {
                service: Some(at(0).service_sid),
                channel: Some("sms".into()),
                created_after: Some(t(50)),
                created_before: Some(t(450)),
                ..every.clone()
            },
        ),
        (
            "to prefix, unconverted, country",
            AttemptFilter {
                to_prefix: Some("+1555".into()),
                converted: Some(false),
                country: Some("US".into()),
                ..every.clone()
            },
        ),
        (
            "verification and converted",
            AttemptFilter { verification: Some(at(0).verification_sid), converted: Some(true), ..every.clone() },
        ),
        (
            "verification and unconverted",
            AttemptFilter { verification: Some(at(0).verification_sid), converted: Some(false), ..every.clone() },
        ),
        (
            "to and a time range",
            AttemptFilter {
                to: Some("+15550000001".into()),
                created_after: Some(t(100)),
                created_before: Some(t(200)),
                ..every.clone()
            },
        ),
        ("a service of none", AttemptFilter { service: Some(new_sid(prefix::SERVICE)), ..every.clone() }),
    ];
    let mut selected_somewhere = vec![false; made.len()];
    for (what, filter) in &filters {
        let listed = store.list_attempts(filter, newest(Cursor::First, 1000)).await.unwrap();
        let want: Vec<&Made> = made.iter().rev().filter(|m| selects(filter, m)).collect();
        assert_eq!(sids(&listed), want.iter().map(|m| &m.attempt.sid).collect::<Vec<_>>(), "{what}: newest first");
        for (record, m) in listed.iter().zip(&want) {
            assert_eq!(record.attempt, m.attempt, "{what}");
            assert_eq!(record.verification_status, m.status, "{what}: its verification's status");
        }
        let counts = store.count_attempts(filter).await.unwrap();
        let converted = want.iter().filter(|m| m.status == Some(VerificationStatus::Approved)).count();
        assert_eq!((counts.total, counts.converted), (listed.len() as u64, converted as u64), "{what}: counted");
        for (i, m) in made.iter().enumerate() {
            selected_somewhere[i] |= selects(filter, m) && *what != "none";
        }
    }
    // The filters are not vacuous: each narrows, and the cases above cover both sides.
    let sizes: Vec<usize> = filters.iter().map(|(_, f)| made.iter().filter(|m| selects(f, m)).count()).collect();
    assert_eq!(sizes[0], made.len());
    assert!(sizes[1..].iter().all(|n| *n < made.len()), "{sizes:?}");
    assert_eq!(sizes[7], 0, "a % is text, not a pattern");
    assert_eq!(sizes[6], 1, "an _ is text, not a pattern");
    assert!(selected_somewhere.iter().all(|s| *s), "every attempt is selected by some filter");
    assert_eq!(store.count_attempts(&every).await.unwrap().converted, 3, "the approved verification's three");
}

/// A record carries the attempt's list position and what became of its verification: its
/// stored status and expiry, none when it is gone. Fetched by SID, it is what the list holds.
pub async fn attempt_records_carry_their_verification<S: Store>(store: S) {
    let (a, made, b, theirs) = attempts(&store).await;
    let listed = store.list_attempts(&attempt_filter(&a), newest(Cursor::First, 1000)).await.unwrap();
    assert_eq!(listed.len(), made.len());
    let seqs: Vec<i64> = listed.iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first by creation: {seqs:?}");
    for record in &listed {
        let fetched = store.attempt_record(&a, &record.attempt.sid).await.unwrap();
        assert_eq!(fetched.as_ref(), Some(record), "fetched as listed");
        assert_eq!(store.attempt_record(&b, &record.attempt.sid).await.unwrap(), None, "not with B's SID");
    }
    let approved = listed.iter().find(|r| r.attempt.sid == made[0].attempt.sid).expect("listed");
    let at = VerificationAt::Sid {
        account: a.clone(),
        service: approved.attempt.service_sid.clone(),
        sid: approved.attempt.verification_sid.clone(),
    };
    let v = store.verification(at).await.unwrap().expect("kept");
    assert_eq!(approved.verification_status, Some(VerificationStatus::Approved));
    assert_eq!(approved.verification_expires_at, Some(v.expires_at), "the verification's expiry");
    let gone = listed.iter().find(|r| r.attempt.sid == made[5].attempt.sid).expect("listed");
    assert_eq!((gone.verification_status, gone.verification_expires_at), (None, None), "its verification is gone");
    let pending = listed.iter().find(|r| r.attempt.sid == made[2].attempt.sid).expect("listed");
    assert_eq!(pending.verification_status, Some(VerificationStatus::Pending));
    assert_eq!(store.attempt_record(&a, &new_sid(prefix::ATTEMPT)).await.unwrap(), None);
    assert_eq!(store.attempt_record(&a, &theirs[0].attempt.sid).await.unwrap(), None, "B's attempt with A's SID");
    assert!(store.attempt_record(&b, &theirs[0].attempt.sid).await.unwrap().is_some());
}

/// Pages newest first: `After` the last row of a page reads the older ones, `Before` the
/// first row of a page the newer ones, each answered newest first; filtered pages alike.
pub async fn attempts_page_newest_first_both_ways<S: Store>(store: S) {
    let (a, made, _, _) = attempts(&store).await;
    let every = attempt_filter(&a);
    let whole = store.list_attempts(&every, newest(Cursor::First, 1000)).await.unwrap();
    let want: Vec<&Sid> = made.iter().rev().map(|m| &m.attempt.sid).collect();
    assert_eq!(sids(&whole), want);

    let first = store.list_attempts(&every, newest(Cursor::First, 4)).await.unwrap();
    assert_eq!(sids(&first), want[..4]);
    let second = store.list_attempts(&every, newest(Cursor::After(first[3].seq), 4)).await.unwrap();
    assert_eq!(sids(&second), want[4..8]);
    let third = store.list_attempts(&every, newest(Cursor::After(second[3].seq), 4)).await.unwrap();
    assert_eq!(sids(&third), want[8..], "the last page holds the rest");
    let past = store.list_attempts(&every, newest(Cursor::After(third[1].seq), 4)).await.unwrap();
    assert!(past.is_empty(), "nothing older than the oldest");
    let back = store.list_attempts(&every, newest(Cursor::Before(third[0].seq), 4)).await.unwrap();
    assert_eq!(sids(&back), want[4..8], "a previous page, newest first");
    let back = store.list_attempts(&every, newest(Cursor::Before(second[0].seq), 4)).await.unwrap();
    assert_eq!(sids(&back), want[..4]);
    let back = store.list_attempts(&every, newest(Cursor::Before(second[1].seq), 4)).await.unwrap();
    assert_eq!(sids(&back), want[1..5], "the four just newer");
    let none = store.list_attempts(&every, newest(Cursor::Before(first[0].seq), 4)).await.unwrap();
    assert!(none.is_empty(), "nothing newer than the newest");

    // A filtered list pages over what it selects (US, in three pages of two).
    let us = AttemptFilter { country: Some("US".into()), ..every.clone() };
    let want: Vec<&Sid> = made.iter().rev().filter(|m| selects(&us, m)).map(|m| &m.attempt.sid).collect();
    assert_eq!(want.len(), 6);
    let mut cursor = Cursor::First;
    let mut pages = Vec::new();
    loop {
        let page = store.list_attempts(&us, newest(cursor, 2)).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Cursor::After(last.seq);
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2]);
    assert_eq!(pages.iter().flat_map(|p| sids(p)).collect::<Vec<_>>(), want);
    let back = store.list_attempts(&us, newest(Cursor::Before(pages[2][0].seq), 2)).await.unwrap();
    assert_eq!(sids(&back), sids(&pages[1]));
}

/// Another account's attempts are never listed, fetched or counted, whatever the filter
/// names (its service, its verification, the same `To`).
pub async fn attempt_lists_are_scoped_to_the_account<S: Store>(store: S) {
    let (a, made, b, theirs) = attempts(&store).await;
    let listed = |filter: AttemptFilter| {
        let store = &store;
        async move {
            let listed = store.list_attempts(&filter, newest(Cursor::First, 1000)).await.unwrap();
            let counts = store.count_attempts(&filter).await.unwrap();
            assert_eq!(counts.total, listed.len() as u64);
            listed.into_iter().map(|r| r.attempt.sid).collect::<Vec<_>>()
        }
    };
    let ours: Vec<Sid> = made.iter().rev().map(|m| m.attempt.sid.clone()).collect();
    let mine: Vec<Sid> = theirs.iter().rev().map(|m| m.attempt.sid.clone()).collect();
    assert_eq!(listed(attempt_filter(&a)).await, ours);
    assert_eq!(listed(attempt_filter(&b)).await, mine);
    let their = &theirs[0].attempt;
    let with_theirs = [
        AttemptFilter { service: Some(their.service_sid.clone()), ..attempt_filter(&a) },
        AttemptFilter { verification: Some(their.verification_sid.clone()), ..attempt_filter(&a) },
    ];
    for filter in with_theirs {
        assert!(listed(filter).await.is_empty(), "B's rows named with A's SID");
    }
    let to = AttemptFilter { to: Some(their.to.clone()), ..attempt_filter(&a) };
    let same_to: Vec<Sid> =
        made.iter().rev().filter(|m| m.attempt.to == their.to).map(|m| m.attempt.sid.clone()).collect();
    assert_eq!(listed(to).await, same_to, "A's attempts to the number, not B's");
    let converted = AttemptFilter { converted: Some(false), ..attempt_filter(&b) };
    assert_eq!(listed(converted).await, mine, "B's pending verification");
    let nobody = attempt_filter(&new_sid(prefix::ACCOUNT));
    assert!(listed(nobody).await.is_empty());
}
