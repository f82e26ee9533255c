/*
 * intake_json.h
 *		json-c value access and canonical JSON for manifest intake (intake_json.c),
 *		and the intake of unit tests that uses them (intake_unit_test.c).
 *		Include jsonc.h first.
 */
#ifndef BLUEGREEN_INTAKE_JSON_H
#define BLUEGREEN_INTAKE_JSON_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "manifest.h"

/* typed field access; errors name "manifest <what> "<id>": field ..." */
extern pg_attribute_noreturn() void bg_json_field_error(const char *what, const char *id,
														const char *field, const char *expected);
extern json_object *bg_json_get(json_object *o, const char *field);
extern char *bg_json_value_string(json_object *v, const char *what, const char *id,
								  const char *field);
extern json_object *bg_json_value_object(json_object *v, const char *what, const char *id,
										 const char *field);
extern char *bg_json_copy_string(json_object *v, const char *what, const char *id,
								 const char *field);
extern char *bg_json_opt_string(json_object *o, const char *field, const char *what,
								const char *id, const char *path);
extern char *bg_json_req_string(json_object *o, const char *field, const char *what,
								const char *id);
extern json_object *bg_json_opt_object(json_object *o, const char *field, const char *what,
									   const char *id, const char *path);
extern bool bg_json_opt_bool(json_object *o, const char *field, const char *what,
							 const char *id, const char *path);
extern char **bg_json_string_array(json_object *o, const char *field, const char *what,
								   const char *id, const char *path, int *n);
extern bool bg_json_truthy(json_object *v);

/* canonical JSON: equal strings exactly when Python's == says the values are equal */
extern int	bg_cmp_cstring(const void *a, const void *b);
extern void bg_json_canon_append(StringInfo buf, json_object *v, const char **skip_keys);
extern char *bg_string_finish(StringInfo buf);
extern void bg_json_keep_begin(MemoryContext cxt);
extern void bg_json_keep_end(void);
extern char *bg_json_keep(const char *s, size_t len);
extern char *bg_json_keep_md5(const char *data, Size len);
extern char *bg_json_canon(json_object *v);
extern char *bg_json_canon_fields(json_object *o, const char *const *fields);
extern char *bg_json_canon_values(json_object *const *values, int n);
extern char *bg_json_canon_subset(json_object *o, const char *const *keys);

/* checks at the door */
extern void bg_json_check_values(json_object *v, const char *what, const char *id,
								 const char *field);
extern char *bg_json_plain(json_object *v);
extern const char *bg_shorten(const char *s);
extern void bg_check_identifier(const char *name, const char *id, const char *field);

/* intake_unit_test.c */
extern void bg_unit_test_from_json(BgManifest *m, json_object *o, const char *key);

#endif							/* BLUEGREEN_INTAKE_JSON_H */
