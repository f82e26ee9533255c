/*
 * search_path.h
 *		What manifest SQL misses under bluegreen.model_search_path, and the hint that
 *		says where it is (see search_path.c).
 */
#ifndef BLUEGREEN_SEARCH_PATH_H
#define BLUEGREEN_SEARCH_PATH_H

typedef enum BgPathObject
{
	BG_PATH_FUNCTION,
	BG_PATH_OPERATOR,
	BG_PATH_TYPE
} BgPathObject;

extern char *bg_search_path_hint(BgPathObject kind, const char *name);
extern void bg_hint_search_path(ErrorData *e);

#endif							/* BLUEGREEN_SEARCH_PATH_H */
