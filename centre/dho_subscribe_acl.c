/*
 * A Mosquitto 2.0 plugin that checks SUBSCRIBE, which Mosquitto's acl_file does not do: its
 * default ACL check grants every subscription ("FIXME - implement ACL subscription strings",
 * src/security_default.c) and filters only what it delivers. That is not enough for shared
 * subscriptions: a hub joining `$share/ingest/dho/v1/hub/+/batch` is handed its turn of every
 * hub's batches, which the read ACL then drops, so the centre's workers lose them.
 *
 * Written and built by `centre broker-config`, loaded on each listener with `plugin`.
 * Options (all optional):
 *   plugin_opt_subscribe      space-separated topic filters a client may subscribe to, exactly
 *                             as written, `%u` standing for the client's user name (its
 *                             certificate's name)
 *   plugin_opt_trusted_user   a user name whose subscriptions are left to the acl_file
 *   plugin_opt_revoked_users  a file of user names (hub ids), one a line, that the centre
 *                             revoked (centre/revocation.py rewrites it whole on each change);
 *                             lines starting with '#' are skipped (the first is a generation,
 *                             new at every write, so that every change is seen)
 * Every other SUBSCRIBE is refused: MQTT v5 SUBACK reason 0x87 "Not authorized".
 * Publishing and delivery are left to the acl_file, except for a revoked user: everything it
 * asks is refused (publishing, subscribing, and delivery to it), from the first check after the
 * file names it (the file is looked at again at most once a second). The broker's TLS check of
 * the CRL refuses the certificate only after a reload; this does not wait for one. Mosquitto
 * 2.0.11 (Debian 12) sends no tick to a plugin loaded per listener, so a revoked hub that is
 * connected stays connected, refused everything, until the broker reloads or restarts; where
 * the broker sends ticks, the plugin also disconnects it within a second.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define MAX_FILTERS 16
#define MAX_TOPIC 512
#define MAX_REVOKED 100000
#define MAX_NAME 64

/* One per listener that loads the plugin (the library itself is loaded once). */
struct acl {
	mosquitto_plugin_id_t *identifier;
	char *filters[MAX_FILTERS];
	int filter_count;
	char *trusted_user;
	char *filters_text;
	char *revoked_path;
	char **revoked; /* sorted, for bsearch */
	int revoked_count;
	struct stat revoked_seen; /* of the file as last read: reread when it changes */
	char revoked_first[MAX_NAME + 2]; /* its first line (the generation) as last read */
	time_t revoked_checked_s;
	bool kick_due;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_revoked(const struct acl *acl, const char *user)
{
	if(!user || acl->revoked_count == 0) return false;
	return bsearch(&user, acl->revoked, (size_t)acl->revoked_count, sizeof(char *), by_name) != NULL;
}

static void forget_revoked(struct acl *acl)
{
	int i;

	for(i = 0; i < acl->revoked_count; i++) free(acl->revoked[i]);
	free(acl->revoked);
	acl->revoked = NULL;
	acl->revoked_count = 0;
}

/* Read the revoked names again if the file changed. A file that is missing is an empty list (a
 * centre that never revoked anything); one that cannot be read keeps the list as it was. */
static void reload_revoked(struct acl *acl)
{
	struct stat now;
	FILE *f;
	char line[MAX_NAME + 2];
	char first[MAX_NAME + 2];
	char **names;
	int count = 0;

	/* Changed: another inode, size or time (to the nanosecond), or another first line. The
	 * first line settles what the times cannot: two writes within one clock tick, the second
	 * given the inode the first freed, with the same size. */
	memset(&now, 0, sizeof(now));
	first[0] = '\0';
	f = fopen(acl->revoked_path, "r");
	if(!f && errno != ENOENT){
		mosquitto_log_printf(MOSQ_LOG_ERR, "dho: cannot read %s", acl->revoked_path);
		return;
	}
	if(f && (fstat(fileno(f), &now) != 0 || !fgets(first, sizeof(first), f))) first[0] = '\0';
	if(now.st_ino == acl->revoked_seen.st_ino && now.st_size == acl->revoked_seen.st_size
			&& now.st_mtim.tv_sec == acl->revoked_seen.st_mtim.tv_sec
			&& now.st_mtim.tv_nsec == acl->revoked_seen.st_mtim.tv_nsec
			&& now.st_ctim.tv_sec == acl->revoked_seen.st_ctim.tv_sec
			&& now.st_ctim.tv_nsec == acl->revoked_seen.st_ctim.tv_nsec
			&& strcmp(first, acl->revoked_first) == 0){
		if(f) fclose(f);
		return;
	}
	names = calloc(MAX_REVOKED, sizeof(char *));
	if(!names){
		if(f) fclose(f);
		return;
	}
	if(f) rewind(f);
	while(f && count < MAX_REVOKED && fgets(line, sizeof(line), f)){
		size_t len = strcspn(line, "\r\n");
		if(line[len] == '\0' && !feof(f)){ /* longer than any hub id: skip the rest of it */
			int c;
			while((c = fgetc(f)) != EOF && c != '\n');
			continue;
		}
		line[len] = '\0';
		if(len == 0 || line[0] == '#') continue;
		names[count] = strdup(line);
		if(names[count]) count++;
	}
	if(f) fclose(f);
	qsort(names, (size_t)count, sizeof(char *), by_name);
	forget_revoked(acl);
	acl->revoked = names;
	acl->revoked_count = count;
	acl->revoked_seen = now;
	memcpy(acl->revoked_first, first, sizeof(first));
	acl->kick_due = true;
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "dho: %d revoked hubs in %s", count, acl->revoked_path);
}

/* About once a second, where the broker sends ticks: reread the list if it changed, and
 * disconnect every revoked user that is connected (by name, across the whole broker; a name not
 * connected costs a look through the clients). */
static int on_tick(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_tick *ed = event_data;
	struct acl *acl = userdata;
	int i;

	(void)event;
	if(ed->now_s == acl->revoked_checked_s) return MOSQ_ERR_SUCCESS;
	acl->revoked_checked_s = ed->now_s;
	reload_revoked(acl);
	if(acl->kick_due){
		acl->kick_due = false;
		for(i = 0; i < acl->revoked_count; i++){
			mosquitto_kick_client_by_username(acl->revoked[i], false);
		}
	}
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	(void)supported_version_count;
	(void)supported_versions;
	return 5;
}

/* Does `topic` equal `filter` with each `%u` replaced by `user`? */
static bool matches(const char *filter, const char *user, const char *topic)
{
	char expected[MAX_TOPIC];
	size_t out = 0;
	const char *p;

	for(p = filter; *p; p++){
		const char *piece = p;
		size_t len = 1;
		if(p[0] == '%' && p[1] == 'u'){
			piece = user;
			len = strlen(user);
			p++;
		}
		if(out + len >= sizeof(expected)) return false;
		memcpy(expected + out, piece, len);
		out += len;
	}
	expected[out] = '\0';
	return strcmp(expected, topic) == 0;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	struct acl *acl = userdata;
	const char *user;
	int i;

	(void)event;
	user = mosquitto_client_username(ed->client);
	if(acl->revoked_path && time(NULL) != acl->revoked_checked_s){
		acl->revoked_checked_s = time(NULL);
		reload_revoked(acl);
	}
	if(acl->revoked_path && is_revoked(acl, user)){
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "dho: refused revoked hub %s: %s",
				user, ed->topic);
		acl->kick_due = true;
		return MOSQ_ERR_ACL_DENIED;
	}
	if(ed->access != MOSQ_ACL_SUBSCRIBE) return MOSQ_ERR_PLUGIN_DEFER;

	if(user && acl->trusted_user && strcmp(user, acl->trusted_user) == 0){
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	/* A name with topic syntax in it could stretch a %u filter to other hubs' topics. */
	if(user && user[0] && !strpbrk(user, "/+#")){
		for(i = 0; i < acl->filter_count; i++){
			if(matches(acl->filters[i], user, ed->topic)) return MOSQ_ERR_SUCCESS;
		}
	}
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "dho: refused subscription of %s (user %s) to %s",
			mosquitto_client_id(ed->client), user ? user : "(none)", ed->topic);
	return MOSQ_ERR_ACL_DENIED;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	struct acl *acl;
	char *token, *save = NULL;
	int i;

	acl = calloc(1, sizeof(*acl));
	if(!acl) return MOSQ_ERR_NOMEM;
	for(i = 0; i < option_count; i++){
		if(strcmp(options[i].key, "trusted_user") == 0){
			acl->trusted_user = strdup(options[i].value);
		}else if(strcmp(options[i].key, "subscribe") == 0 && !acl->filters_text){
			acl->filters_text = strdup(options[i].value);
			for(token = strtok_r(acl->filters_text, " ", &save);
					token && acl->filter_count < MAX_FILTERS;
					token = strtok_r(NULL, " ", &save)){
				acl->filters[acl->filter_count++] = token;
			}
		}else if(strcmp(options[i].key, "revoked_users") == 0 && !acl->revoked_path){
			acl->revoked_path = strdup(options[i].value);
		}else{
			mosquitto_log_printf(MOSQ_LOG_ERR, "dho: unknown plugin option %s", options[i].key);
			return MOSQ_ERR_INVAL;
		}
	}
	acl->identifier = identifier;
	*userdata = acl;
	if(acl->revoked_path){
		reload_revoked(acl);
		if(mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, acl)){
			return MOSQ_ERR_UNKNOWN;
		}
	}
	return mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, acl);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	struct acl *acl = userdata;

	(void)options;
	(void)option_count;
	if(acl){
		mosquitto_callback_unregister(acl->identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
		if(acl->revoked_path){
			mosquitto_callback_unregister(acl->identifier, MOSQ_EVT_TICK, on_tick, NULL);
		}
		forget_revoked(acl);
		free(acl->revoked_path);
		free(acl->trusted_user);
		free(acl->filters_text);
		free(acl);
	}
	return MOSQ_ERR_SUCCESS;
}
