/*
 * jsonc.h
 *		json-c, included so that its type json_object does not collide with
 *		PostgreSQL's SQL function json_object() declared in utils/fmgrprotos.h.
 *
 * Include this right after postgres.h, before any header that pulls in fmgrprotos.h.
 */
#ifndef BLUEGREEN_JSONC_H
#define BLUEGREEN_JSONC_H

#define json_object pg_sql_function_json_object
#include "utils/fmgrprotos.h"
#undef json_object

#include <json-c/json.h>

#endif							/* BLUEGREEN_JSONC_H */
