#include "sb_tenant.h"

#include <stddef.h>

int sb_tenant_valid(const char *s) {
  size_t n = 0;
  for (; s && s[n]; n++) {
    char ch = s[n];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return 0;
    if (n >= SB_TENANT_MAX)
      return 0;
  }
  return n >= 1;
}

int sb_tenant_reserved(const char *s) { return s != NULL && s[0] == '_'; }
