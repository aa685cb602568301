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
 * Every other SUBSCRIBE is refused: MQTT v5 SUBACK reason 0x87 "Not authorized".
 * Publishing and delivery are left to the acl_file.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define MAX_FILTERS 16
#define MAX_TOPIC 512

/* One per listener that loads the plugin (the library itself is loaded once). */
struct acl {
	mosquitto_plugin_id_t *identifier;
	char *filters[MAX_FILTERS];
	int filter_count;
	char *trusted_user;
	char *filters_text;
};

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
	if(ed->access != MOSQ_ACL_SUBSCRIBE) return MOSQ_ERR_PLUGIN_DEFER;

	user = mosquitto_client_username(ed->client);
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
		}else{
			mosquitto_log_printf(MOSQ_LOG_ERR, "dho: unknown plugin option %s", options[i].key);
			return MOSQ_ERR_INVAL;
		}
	}
	acl->identifier = identifier;
	*userdata = acl;
	return mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, acl);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	struct acl *acl = userdata;

	(void)options;
	(void)option_count;
	if(acl){
		mosquitto_callback_unregister(acl->identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
		free(acl->trusted_user);
		free(acl->filters_text);
		free(acl);
	}
	return MOSQ_ERR_SUCCESS;
}
