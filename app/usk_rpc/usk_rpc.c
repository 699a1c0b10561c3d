/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_rpc: command-line JSON-RPC client for usk_tgt (and any SPDK-compatible server). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define DEFAULT_SOCK "/var/tmp/usk.sock"
#define MAX_RESPONSE (64 * 1024 * 1024)

static void
usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [-s SOCK] [-t TIMEOUT] [-v] METHOD [key=value ...]\n"
		"       %s [-s SOCK] [-t TIMEOUT] [-v] METHOD --json '{\"key\": value}'\n"
		"  -s SOCK      RPC socket (default %s)\n"
		"  -t TIMEOUT   seconds to wait for the reply (default 60)\n"
		"  -v           print the request on stderr\n"
		"Values: integers and decimals become JSON numbers, true/false booleans, null null,\n"
		"values starting with [, { or \" are parsed as JSON, anything else (including digits\n"
		"with a leading zero, e.g. serial numbers) is a string.\n"
		"key.sub=value builds nested objects. Exit status is 1 on a JSON-RPC error.\n",
		prog, prog, DEFAULT_SOCK);
}

static json_t *
parse_value(const char *v)
{
	char *end;
	json_t *j;

	if (strcmp(v, "true") == 0) {
		return json_true();
	}
	if (strcmp(v, "false") == 0) {
		return json_false();
	}
	if (strcmp(v, "null") == 0) {
		return json_null();
	}
	/* Digits with a leading zero (serial numbers, "007") stay strings, as do quoted values. */
	if (v[0] != '\0' && !(v[0] == '0' && v[1] >= '0' && v[1] <= '9') &&
	    !(v[0] == '-' && v[1] == '0' && v[2] != '\0')) {
		long long ll;
		double d;

		errno = 0;
		ll = strtoll(v, &end, 10);
		if (errno == 0 && *end == '\0') {
			return json_integer(ll);
		}
		errno = 0;
		d = strtod(v, &end);
		if (errno == 0 && *end == '\0' && strspn(v, "0123456789.-+eE") == strlen(v)) {
			return json_real(d);
		}
	}
	if (v[0] == '[' || v[0] == '{' || v[0] == '"') {
		j = json_loads(v, JSON_DECODE_ANY, NULL);
		if (j != NULL) {
			return j;
		}
	}
	return json_string(v);
}

/* key or key.sub.sub = value into params. */
static int
add_param(json_t *params, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *key, *dot, *part;
	json_t *obj = params, *child;

	if (eq == NULL || eq == arg) {
		fprintf(stderr, "usk_rpc: argument '%s' is not key=value\n", arg);
		return -EINVAL;
	}
	key = strndup(arg, (size_t)(eq - arg));
	if (key == NULL) {
		return -ENOMEM;
	}
	part = key;
	while ((dot = strchr(part, '.')) != NULL) {
		*dot = '\0';
		child = json_object_get(obj, part);
		if (child == NULL) {
			child = json_object();
			json_object_set_new(obj, part, child);
		} else if (!json_is_object(child)) {
			fprintf(stderr, "usk_rpc: '%s' is set both as a value and as an object\n",
				part);
			free(key);
			return -EINVAL;
		}
		obj = child;
		part = dot + 1;
	}
	json_object_set_new(obj, part, parse_value(eq + 1));
	free(key);
	return 0;
}

static int
connect_sock(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usk_rpc: socket path too long: %s\n", path);
		return -1;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("usk_rpc: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fprintf(stderr, "usk_rpc: cannot connect to %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read until one complete JSON value arrived. */
static json_t *
read_response(int fd, int timeout_s)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	json_error_t err;
	json_t *resp = NULL;

	while (buf != NULL) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;
		int rc;

		if (left <= 0) {
			fprintf(stderr, "usk_rpc: no reply within %d s\n", timeout_s);
			break;
		}
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR) {
			continue;
		}
		if (rc <= 0) {
			continue;
		}
		if (len == cap) {
			char *nb;

			if (cap >= MAX_RESPONSE) {
				fprintf(stderr, "usk_rpc: reply larger than %d bytes\n",
					MAX_RESPONSE);
				break;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "usk_rpc: connection closed before a complete reply\n");
			break;
		}
		len += (size_t)n;
		resp = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &err);
		if (resp != NULL) {
			break;
		}
		if (json_error_code(&err) != json_error_premature_end_of_input) {
			fprintf(stderr, "usk_rpc: invalid reply: %s\n", err.text);
			break;
		}
	}
	free(buf);
	return resp;
}

int
main(int argc, char **argv)
{
	const char *sock = DEFAULT_SOCK, *json_params = NULL, *method;
	int timeout_s = 60, verbose = 0, ch, fd, i, rc = 1;
	json_t *req, *params = NULL, *resp = NULL, *err, *result;
	char *text;
	size_t off, len;

	static const struct option long_opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"server", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, 't'},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};

	while ((ch = getopt_long(argc, argv, "+hs:t:v", long_opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 't':
			timeout_s = atoi(optarg);
			if (timeout_s <= 0) {
				fprintf(stderr, "usk_rpc: invalid timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(argv[0]);
		return 2;
	}
	method = argv[optind++];
	for (i = optind; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
			json_params = argv[++i];
			continue;
		}
		if (params == NULL) {
			params = json_object();
		}
		if (add_param(params, argv[i]) != 0) {
			json_decref(params);
			return 2;
		}
	}
	if (json_params != NULL) {
		json_error_t jerr;
		json_t *jp = json_loads(json_params, 0, &jerr);

		if (jp == NULL || !json_is_object(jp)) {
			fprintf(stderr, "usk_rpc: --json: %s\n",
				jp ? "must be an object" : jerr.text);
			json_decref(jp);
			json_decref(params);
			return 2;
		}
		if (params != NULL) {
			json_object_update(jp, params);
			json_decref(params);
		}
		params = jp;
	}
	req = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", method, "id", 1);
	if (params != NULL) {
		json_object_set_new(req, "params", params);
	}
	text = json_dumps(req, JSON_COMPACT);
	if (verbose) {
		char *pretty = json_dumps(req, JSON_INDENT(2));

		fprintf(stderr, "request:\n%s\n", pretty);
		free(pretty);
	}
	json_decref(req);
	fd = connect_sock(sock);
	if (fd < 0) {
		free(text);
		return 1;
	}
	len = strlen(text);
	for (off = 0; off < len;) {
		ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "usk_rpc: send failed: %s\n", strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	resp = read_response(fd, timeout_s);
	if (resp == NULL) {
		goto out;
	}
	err = json_object_get(resp, "error");
	if (err != NULL) {
		fprintf(stderr, "usk_rpc: %s failed: code %lld: %s\n", method,
			(long long)json_integer_value(json_object_get(err, "code")),
			json_string_value(json_object_get(err, "message")) ?: "(no message)");
		goto out;
	}
	result = json_object_get(resp, "result");
	if (result == NULL) {
		fprintf(stderr, "usk_rpc: reply has neither result nor error\n");
		goto out;
	}
	free(text);
	text = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
	printf("%s\n", text ? text : "");
	rc = 0;
out:
	free(text);
	json_decref(resp);
	close(fd);
	return rc;
}
