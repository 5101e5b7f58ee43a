/* The time zone of a phone number's area, from its E.164 prefix: for +1
 * (NANP) the area code, from a built-in table of US and Canadian area
 * codes (each the zone most of its area is in); otherwise the country
 * code, for a list of countries (each its capital's zone). Ingest fills a
 * lead's phone_tz with it before the number is sealed, so calling hours
 * can be judged without the plaintext.
 *
 * Limits: an area code or country spanning zones gets one of them
 * (Indiana, Kentucky, Tennessee, the Florida panhandle, the Dakotas,
 * Nebraska; Mexico, Brazil, Russia, Australia, Indonesia); mobile numbers
 * keep their area code when people move; area codes added after the
 * table was made (and those not in it) give none; a number's area is
 * where the line was issued, which the lead's own time_zone overrides. */
#ifndef SB_PHONE_TZ_H
#define SB_PHONE_TZ_H

/* The IANA zone of an E.164 number ("+12125550100"; '+' and digits
 * only, as sb_pii_norm_phone gives), or NULL when the prefix is not in the
 * tables. Static storage. */
const char *sb_phone_tz(const char *e164);

#endif
