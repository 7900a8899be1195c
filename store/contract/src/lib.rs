//! The contract suite every verifyd store must pass, written against
//! [`verifyd_core::store::Store`] only: what each change saves, all-or-nothing writes,
//! atomicity under concurrent operations, tenant scoping, ordering and paging, and the
//! maintenance sweep.
//!
//! An adapter runs it from one of its integration tests:
//!
//! ```text
//! async fn open() -> (MyStore, Guard) { /* a fresh, empty store */ }
//!
//! verifyd_store_contract::contract_tests!(open);
//! ```
//!
//! The argument is an async function (or closure) returning a new empty store and a guard
//! kept alive until the case ends (a temporary directory, a throwaway database). Every case
//! becomes a `#[tokio::test]` of its own, named after the function in [`cases`] it runs, so
//! that a failure names its case. The calling crate needs `tokio` (with the `macros` and
//! `rt-multi-thread` features) among its dependencies.

pub mod cases;
pub mod fixtures;

/// Expands to one multi-threaded `#[tokio::test]` per contract case; `$open` is an async
/// function or closure returning `(store, guard)` for a fresh empty store.
#[macro_export]
macro_rules! contract_tests {
    ($open:expr) => {
        $crate::__contract_list!(tests $open);
    };
}

/// Like [`contract_tests!`], for a store that may be missing here (a database server that is
/// not configured): `$open` returns `Option<(store, guard)>`, and each case whose store is
/// `None` says that it skipped and passes.
#[macro_export]
macro_rules! optional_contract_tests {
    ($open:expr) => {
        $crate::__contract_list!(optional $open);
    };
}

/// Runs every contract case in turn, each on a store from `$open` (an async function or
/// closure returning `(store, guard)`); for use inside an async function, by a test that
/// checks something of the whole run (such as every statement a store ran).
#[macro_export]
macro_rules! run_every_case {
    ($open:expr) => {
        $crate::__contract_list!(sequence $open);
    };
}

/// The one list of cases, handed to [`__contract_cases!`] in the mode asked.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_list {
    ($mode:ident $open:expr) => {
        $crate::__contract_cases!(
            $mode $open;
            key_ring_is_recorded_and_read_back,
            sealed_values_are_listed_and_replaced_only_where_unchanged,
            accounts_and_api_keys_persist,
            one_account_takes_its_token_from_the_configuration,
            probe_writes_and_reads,
            services_persist,
            delete_service_removes_everything_under_it,
            verifications_persist,
            updates_keep_change_or_erase_the_code,
            newest_to_is_the_last_inserted_of_that_service_and_account,
            outbox_is_newest_first,
            windows_show_in_the_meter_and_reset,
            entities_factors_challenges_persist,
            delete_factor_removes_its_challenges_only,
            delete_entity_removes_that_identity_only,
            factor_creation_counts,
            access_tokens_persist,
            rate_limits_and_buckets_persist,
            webhooks_persist_and_states_carry_the_enabled_ones,
            deliveries_are_claimed_leased_and_finished,
            claims_take_services_in_turn,
            pending_deliveries_are_counted_across_accounts,
            unique_keys_are_refused,
            save_is_all_or_nothing,
            a_decision_is_all_or_nothing,
            a_decision_without_changes_writes_nothing,
            last_check_race,
            right_code_race,
            last_send_race,
            first_send_race,
            last_bucket_slot_race,
            one_access_token_race,
            one_challenge_answer_race,
            totp_replay_race,
            guesses_persist_per_subscriber,
            guess_changes_are_scoped_to_the_account,
            guess_ceiling_race,
            entity_guess_race,
            webhook_limit_race,
            reads_are_scoped_to_the_account,
            operations_are_scoped_to_the_account,
            changes_are_scoped_to_the_account,
            window_and_creation_changes_are_scoped_to_the_account,
            services_page_in_creation_order,
            entities_page_in_creation_order,
            factors_page_in_creation_order,
            challenges_page_in_creation_order_both_ways,
            challenge_filters,
            rate_limits_page_in_creation_order,
            buckets_page_in_creation_order,
            webhooks_page_in_creation_order,
            sweep_expires_and_purges,
            sweep_purges_finished_deliveries,
            attempts_persist_in_creation_order,
            attempts_are_claimed_when_queued_due_and_unleased,
            attempt_outcomes_see_the_verification_and_save_atomically,
            attempt_outcome_race,
            sweep_purges_old_attempts,
            messaging_configurations_persist,
            attempt_payloads_are_sealed_values,
            safe_list_entries_persist,
            safe_list_creation_race,
            geo_permissions_persist,
            geo_permissions_are_loaded_into_a_send,
            fraud_guard_overrides_persist,
            tallies_add_and_sum_by_range,
            concurrent_tally_additions_all_count,
            send_state_carries_controls_only_when_asked,
            attempts_are_listed_by_every_filter,
            attempt_records_carry_their_verification,
            attempts_page_newest_first_both_ways,
            attempt_lists_are_scoped_to_the_account,
            passkey_ceremonies_persist,
            passkey_states_carry_the_ceremonys_factor_and_the_credentials,
            passkey_credentials_persist_and_are_unique_in_a_service,
            passkey_ceremony_answer_race,
            passkey_counter_race,
            passkey_ceremonies_go_with_their_factor_entity_and_service,
            sweep_purges_expired_ceremonies,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    (tests $open:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, _guard) = ($open)().await;
                $crate::cases::$case(store).await;
            }
        )+
    };
    (optional $open:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some((store, _guard)) = ($open)().await else {
                    eprintln!("skipped: {}: no store to run it on", stringify!($case));
                    return;
                };
                $crate::cases::$case(store).await;
            }
        )+
    };
    (sequence $open:expr; $($case:ident),+ $(,)?) => {
        $(
            {
                let (store, _guard) = ($open)().await;
                // Boxed: fifty cases inline would make one future too large for a thread's stack.
                Box::pin($crate::cases::$case(store)).await;
            }
        )+
    };
}
