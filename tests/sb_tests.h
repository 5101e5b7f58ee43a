/* The test list: X(name, labels). tests/CMakeLists.txt reads this file to
 * register each test with CTest as `sb_tests NAME`, so a test is added in
 * one place. Labels, comma-separated: unit (pure logic), pg (needs the
 * PostgreSQL fixture), kafka (embedded broker). */
#ifndef SB_TESTS_H
#define SB_TESTS_H

#define SB_TEST_LIST(X)                                                       \
  X(err_table, "unit")                                                        \
  X(err_first_wins, "unit")                                                   \
  X(util_parse_ll, "unit")                                                    \
  X(util_kv_and_bytea, "unit")                                                \
  X(ulid, "unit")                                                             \
  X(util_files, "unit")                                                       \
  X(log_redact, "unit")                                                       \
  X(log_json_line, "unit")                                                    \
  X(conf_defaults, "unit")                                                    \
  X(conf_file_good, "unit")                                                   \
  X(conf_file_bad, "unit")                                                    \
  X(conf_values_bad, "unit")                                                  \
  X(conf_env_and_layers, "unit")                                              \
  X(conf_kafka_passthrough, "unit")                                           \
  X(conf_reference, "unit")                                                   \
  X(conf_processor_rows, "unit")                                              \
  X(migrations_compiled, "unit")                                              \
  X(migrations_order_check, "unit")                                           \
  X(migrate_twice_applies_once, "pg")                                         \
  X(migrate_changed_is_refused, "pg")                                         \
  X(migrate_unknown_newer_is_refused, "pg")                                   \
  X(migrate_concurrent, "pg")                                                 \
  X(migrate_failure_rolls_back, "pg")                                         \
  X(pg_errors_are_translated, "pg")                                           \
  X(codec_schema_evolution, "unit")                                           \
  X(engine_rejects_incomplete_processor, "unit")                              \
  X(engine_batches_offsets_and_derived_events, "kafka,pg")                    \
  X(engine_processor_failures_deadletter, "kafka,pg")                         \
  X(engine_isolates_poison_event, "kafka,pg")                                 \
  X(pipeline_decodes_once, "kafka,pg")                                        \
  X(pipeline_poison_stays_in_its_processor, "kafka,pg")                       \
  X(pipeline_processor_added_later, "kafka,pg")                               \
  X(pipeline_poison_timer, "kafka,pg")                                        \
  X(pipeline_offsets_fence_a_second_writer, "kafka,pg")                       \
  X(pipeline_global_table, "kafka,pg")                                        \
  X(pipeline_event_sql_goes_first, "kafka,pg")                                \
  X(engine_isolates_poison_written_in_event, "kafka,pg")                      \
  X(kafka_embedded_topics, "kafka")                                           \
  X(kafka_roundtrip, "kafka")                                                 \
  X(kafka_unreachable_brokers, "kafka")                                       \
  X(audit_checkpoint_signed, "unit")                                          \
  X(kafka_check_missing_topics, "kafka")                                      \
  X(codec_roundtrip_all_types, "unit")                                        \
  X(codec_rejects_precisely, "unit")                                          \
  X(codec_decode_errors, "unit")                                              \
  X(time_parse_format, "unit")                                                \
  X(text_builder, "unit")                                                     \
  X(ulid_format, "unit")                                                      \
  X(auth_jwt_roundtrip, "unit")                                               \
  X(auth_jwt_expired, "unit")                                                 \
  X(auth_jwt_future_iat, "unit")                                              \
  X(auth_jwt_tampered_payload, "unit")                                        \
  X(auth_jwt_tampered_signature, "unit")                                      \
  X(auth_jwt_bad_alg, "unit")                                                 \
  X(auth_jwt_parts, "unit")                                                   \
  X(auth_jwt_base64, "unit")                                                  \
  X(auth_jwt_oversize, "unit")                                                \
  X(auth_jwt_bad_claims, "unit")                                              \
  X(auth_jwt_wrong_secret, "unit")                                            \
  X(auth_jwt_known_answers, "unit")                                           \
  X(auth_secret_file, "unit")                                                 \
  X(auth_names, "unit")                                                       \
  X(auth_permissions, "unit")                                                 \
  X(auth_tenant_check, "unit")                                                \
  X(token_cmd, "unit")                                                        \
  X(gen_reproducible, "unit")                                                 \
  X(gen_valid_default, "unit")                                                \
  X(gen_valid_mixes, "unit")                                                  \
  X(gen_distribution, "unit")                                                 \
  X(gen_bounded_memory, "unit")                                               \
  X(gen_bad_options, "unit")                                                  \
  X(load_bad_options, "unit")                                                 \
  X(load_http, "kafka,pg,http")                                               \
  X(load_http_retries, "kafka,pg,http")                                       \
  X(load_freshness, "kafka,pg,http")                                          \
  X(replay_swap_guards, "kafka,pg")                                           \
  X(refusals_window, "unit")                                                  \
  X(refusals_what_amount, "unit")                                             \
  X(json_one_document, "unit")                                                \
  X(event_time_bounds, "unit")                                                \
  X(auth_agent_object_rules, "unit")                                          \
  X(auth_reserved_and_lifetime, "unit")                                       \
  X(journal_crc32c, "unit")                                                   \
  X(journal_durable_offsets, "unit")                                          \
  X(rows_refusals, "unit")                                                    \
  X(rows_roundtrip_all_types, "pg")                                           \
  X(rows_streamed_copy, "pg")                                                 \
  X(rows_upsert_merges, "pg")                                                 \
  X(rows_deletes, "pg")                                                       \
  X(rows_sorted_keys, "pg")                                                   \
  X(rows_budget, "pg")                                                        \
  X(rows_check_against_table, "pg")                                           \
  X(projection_migrate_once_and_resume, "pg")                                 \
  X(projection_refusals, "pg")                                                \
  X(projection_rls_reader, "pg")                                              \
  X(kmap_matches_list, "unit")                                                \
  X(kstate_pending_and_committed, "pg")                                       \
  X(kstate_abort_and_crash, "pg")                                             \
  X(kstate_revoke_and_reload, "pg")                                           \
  X(kstate_flush_one_statement, "pg")                                         \
  X(kstate_bytes_and_bounds, "pg")                                            \
  X(kstate_budget, "pg")                                                      \
  X(timers_wall_and_event, "pg")                                              \
  X(timers_abort_commit_reload, "pg")                                         \
  X(timers_event_time_persists, "pg")                                         \
  X(timers_bounds_and_budget, "pg")                                           \
  X(timer_event_ids, "unit")                                                  \
  X(codec_field_getters, "unit")                                              \
  X(codec_field_wrong_type, "unit")                                           \
  X(codec_field_evolution, "unit")                                            \
  X(codec_build_probe, "unit")                                                \
  X(codec_build_equivalence, "unit")                                          \
  X(codec_build_errors, "unit")                                               \
  X(tail_history_and_news, "kafka")                                           \
  X(golden_projections, "kafka,pg")                                           \
  X(kit_rls_on_every_projection, "pg")                                        \
  X(logscan_reads_whole_topics, "kafka")                                      \
  X(tz_known_offsets, "unit")                                                 \
  X(tz_day_and_hour_starts, "unit")                                           \
  X(tz_utc_of_local, "unit")                                                  \
  X(tz_refusals, "unit")                                                      \
  X(tz_cache_threads, "unit")                                                  \
  X(tenant_events_ingest, "unit")                                             \
  X(tenant_schema_format_refused, "unit")                                     \
  X(pii_envelope, "unit")                                                     \
  X(pii_match_norm, "unit")                                                   \
  X(pii_key_file, "unit")                                                     \
  X(pii_data_keys, "pg")                                                      \
  X(pii_cache_bound, "pg")                                                    \
  X(pii_seal_events, "pg")                                                    \
  X(pii_data_keys_race, "pg")

#define X(name, labels) int test_##name(void);
SB_TEST_LIST(X)
#undef X

#endif
