/*
 * privilege.h
 *		Running a few statements as another role (see privilege.c).
 */
#ifndef BLUEGREEN_PRIVILEGE_H
#define BLUEGREEN_PRIVILEGE_H

typedef struct BgUserSwitch
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nestlevel;
} BgUserSwitch;

extern Oid	bg_extension_owner(void);
extern Oid	bg_owner_role(void);
extern Oid	bg_builder_role(void);
extern void bg_become_builder(BgUserSwitch *s);
extern void bg_pin_manifest_settings(void);
extern void bg_step_timer_start(void);
extern bool bg_step_timer_stop(void);
extern void bg_switch_user(BgUserSwitch *s, Oid userid);
extern void bg_become_extension_owner(BgUserSwitch *s);
extern void bg_restore_user(BgUserSwitch *s);

#endif							/* BLUEGREEN_PRIVILEGE_H */
