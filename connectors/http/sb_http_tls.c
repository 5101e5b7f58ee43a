/* HTTPS: a layer between the socket and sb__http_conn_feed /
 * sb__http_conn_send, through two memory BIOs: the client's ciphertext goes
 * into rbio, the handshake and SSL_read turn it into plaintext for
 * sb__http_conn_feed; SSL_write puts ciphertext in wbio, which
 * sb__http_tls_flush hands to the socket. OpenSSL never touches the socket. */
#include "sb_http_int.h"

#include "sb_log.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reason of the first OpenSSL error queued (never key material), and
 * the queue emptied. */
static void tls_reason(char *buf, size_t sz) {
  unsigned long e = ERR_peek_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  if (why != NULL)
    snprintf(buf, sz, "%s", why);
  else if (e != 0)
    snprintf(buf, sz, "OpenSSL error %lu", e);
  else
    snprintf(buf, sz, "unknown");
  ERR_clear_error();
}

/* Hands the ciphertext waiting in wbio to the socket. */
int sb__http_tls_flush(conn_t *c, int close_after) {
  if (c->closing)
    return -1;
  size_t n = BIO_ctrl_pending(c->wbio);
  if (n == 0 && !close_after)
    return 0;
  char *buf = malloc(n ? n : 1);
  if (buf == NULL || (n > 0 && BIO_read(c->wbio, buf, (int)n) != (int)n)) {
    free(buf);
    sb__http_conn_close(c);
    return -1;
  }
  return sb__http_sock_write(c, buf, n, close_after);
}

/* Plain HTTP sent to the TLS port: the answer, in plain HTTP. */
static void tls_required(conn_t *c) {
  static const char body[] =
      "{\"error\":{\"status\":400,\"code\":\"tls_required\",\"message\":"
      "\"this port speaks HTTPS: use https://\"}}\n";
  char head[160];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 400 Bad Request\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\nConnection: "
                   "close\r\n\r\n",
                   sizeof body - 1);
  char *msg = malloc((size_t)n + sizeof body - 1);
  if (msg == NULL) {
    sb__http_conn_close(c);
    return;
  }
  memcpy(msg, head, (size_t)n);
  memcpy(msg + n, body, sizeof body - 1);
  sb__http_sock_write(c, msg, (size_t)n + sizeof body - 1, 1);
}

/* A fatal TLS error: logged (peer and reason), the alert OpenSSL wrote if
 * any sent, then closed. */
static void tls_fail(conn_t *c, int rc) {
  int e = SSL_get_error(c->ssl, rc);
  unsigned long first = ERR_peek_error();
  char why[160];
  if (first == 0)
    snprintf(why, sizeof why, "SSL_get_error %d", e);
  else
    tls_reason(why, sizeof why);
  ERR_clear_error();
  sb_log(SB_LOG_DEBUG, "http",
         c->tls_up ? "TLS error: closing the connection"
                   : "TLS handshake failed: closing the connection",
         SB_F_STR("peer", c->peer), SB_F_STR("reason", why), SB_F_END);
  c->tls_failed = 1;
  if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
      ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST)
    tls_required(c);
  else
    sb__http_tls_flush(c, 1);
}

/* Runs the handshake, then hands plaintext to sb__http_conn_feed until the TLS
 * layer has no more, the parser is paused or the connection closes. Not
 * re-entered: a sb__http_conn_feed that leads back here leaves it to the loop.
 */
void sb__http_tls_drain(conn_t *c) {
  if (c->draining)
    return;
  c->draining = 1;
  char plain[16384];
  while (!c->closing && !c->tls_failed) {
    ERR_clear_error();
    if (!c->tls_up) {
      int rc = SSL_do_handshake(c->ssl);
      if (rc == 1) {
        c->tls_up = 1;
        sb__http_arm_timer(c); /* from the handshake's bound to the idle one */
        continue;
      }
      if (SSL_get_error(c->ssl, rc) != SSL_ERROR_WANT_READ)
        tls_fail(c, rc);
      break;
    }
    if (c->paused || c->rest)
      break; /* the rest waits in the TLS layer; resume comes back */
    int n = SSL_read(c->ssl, plain, (int)sizeof plain);
    if (n > 0) {
      sb__http_conn_feed(c, plain, (size_t)n);
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN)
      sb__http_conn_close(c); /* the client's close_notify: its end, like EOF */
    else if (e != SSL_ERROR_WANT_READ)
      tls_fail(c, n);
    break;
  }
  if (!c->closing && !c->tls_failed)
    sb__http_tls_flush(c, 0); /* handshake flights, session tickets, alerts */
  c->draining = 0;
}

/* The connection's TLS session, server side. */
int sb__http_tls_conn_init(conn_t *c) {
  ERR_clear_error();
  c->ssl = SSL_new(c->srv->tls);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    SSL_free(c->ssl);
    c->ssl = NULL;
    ERR_clear_error();
    return -1;
  }
  /* empty is "more to come", not end of stream */
  BIO_set_mem_eof_return(c->rbio, -1);
  BIO_set_mem_eof_return(c->wbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio); /* ownership moves to ssl */
  SSL_set_accept_state(c->ssl);
  return 0;
}

/* An encrypted key would make OpenSSL ask on the terminal: refuse it. */
static int no_passphrase(char *buf, int size, int rwflag, void *ud) {
  (void)buf, (void)size, (void)rwflag, (void)ud;
  return 0;
}

/* HTTP/1.1 is all we speak: say so to clients that ask (ALPN). */
static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *ud) {
  static const unsigned char ours[] = "\x08http/1.1";
  unsigned char *sel = NULL;
  (void)ssl, (void)ud;
  if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* no ALPN then; HTTP/1.1 all the same */
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* 0 when path can be opened for reading, else the error naming key, path
 * and what to do. */
static int readable(const char *key, const char *flag, const char *path,
                    const char *what, sb_err_t *err) {
  FILE *f = fopen(path, "r");
  if (f != NULL) {
    fclose(f);
    return 0;
  }
  return sb_err_set(err, SB_ECONFIG,
                    "%s: cannot read '%s': %s (point %s at %s)", key, path,
                    strerror(errno), flag, what);
}

/* 1 when the PEM file at path holds an encrypted key (both PEM forms). */
static int pem_encrypted(const char *path) {
  char buf[8192];
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, "BEGIN ENCRYPTED PRIVATE KEY") != NULL ||
         strstr(buf, "Proc-Type: 4,ENCRYPTED") != NULL;
}

/* The server's TLS context from a PEM certificate chain and its key; *out
 * owned by the caller (SSL_CTX_free). Both NULL: *out NULL, plain HTTP. */
int sb__http_tls_ctx_new(const char *cert, const char *key, SSL_CTX **out,
                         sb_err_t *err) {
  *out = NULL;
  if (cert == NULL && key == NULL)
    return 0;
  if (cert == NULL || key == NULL)
    return sb_err_set(err, SB_ECONFIG,
                      "%s is set but %s is not: HTTPS needs both (--tls-cert "
                      "FILE --tls-key FILE), plain HTTP neither",
                      cert ? "http.tls_cert" : "http.tls_key",
                      cert ? "http.tls_key" : "http.tls_cert");
  if (readable("http.tls_cert", "--tls-cert", cert,
               "the server's PEM certificate chain", err) != 0 ||
      readable("http.tls_key", "--tls-key", key, "the server's PEM private key",
               err) != 0)
    return err->code;
  char why[160];
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) {
    tls_reason(why, sizeof why);
    return sb_err_set(err, SB_ECRYPTO, "http: cannot create a TLS context: %s",
                      why);
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections */
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
  int rc = 0;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    tls_reason(why, sizeof why);
    rc = sb_err_set(err, SB_ECONFIG,
                    "http.tls_cert: no certificate in '%s' (%s): give the "
                    "server's certificate, then any intermediates, in PEM",
                    cert, why);
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    unsigned long e = ERR_peek_error();
    tls_reason(why, sizeof why);
    if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
        ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
      rc = sb_err_set(err, SB_ECONFIG,
                      "http.tls_key: the key in '%s' does not match the "
                      "certificate in '%s': give the key the certificate was "
                      "issued for",
                      key, cert);
    else if (pem_encrypted(key))
      rc = sb_err_set(err, SB_ECONFIG,
                      "http.tls_key: the key in '%s' is encrypted: give it "
                      "unencrypted ('openssl pkey -in KEY -out NEW.pem' "
                      "decrypts it; keep that file mode 0600)",
                      key);
    else
      rc = sb_err_set(err, SB_ECONFIG,
                      "http.tls_key: no private key in '%s' (%s): give the "
                      "certificate's key, unencrypted, in PEM",
                      key, why);
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    rc = sb_err_set(err, SB_ECONFIG,
                    "http.tls_key: the key in '%s' does not match the "
                    "certificate in '%s': give the key the certificate was "
                    "issued for",
                    key, cert);
  }
  if (rc != 0) {
    SSL_CTX_free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

int sb_http_tls_check(const char *cert, const char *key, sb_err_t *err) {
  SSL_CTX *ctx = NULL;
  int rc = sb__http_tls_ctx_new(cert, key, &ctx, err);
  SSL_CTX_free(ctx);
  return rc;
}
