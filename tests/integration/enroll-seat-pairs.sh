#!/bin/bash
# Issue 9, what the real service wants: a seat_id pair in every enrollment (its source per
# profile from [seat_id]), pair names taken from the profile's policy (a profile naming
# the UPN pair user_principal_name still enrolls), serials in either form. Checked in the
# emulator's record of each request.
source "$(dirname "$0")/lib.sh"
start_private_emulator
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
P4=2.16.840.1.113733.1.16.1.2.3.1.1.93127450
printf 'pfx-secret\n' >"$W/pass"
pairs_of() { "$EMULATOR" list --state "$PRIV_STATE" --kind enrolled --pairs | grep -i "^$1"; }
# the serial as the CA lists it: no leading zeros
serial_of() { pfx_serial "$1" | sed 's/^0*//'; }
D() { "$DCPKI" --config "$1" "${@:2}"; }

# default source: the subject's e-mail
D "$W/priv.conf" enroll --store "$W/s" --profile "$P1" --subject "CN=seat1,E=seat1@contoso.example" --pfx "$W/1.p12" \
  --pfx-pass-file "$W/pass" 2>"$W/1.err" || fail "enroll: $(cat "$W/1.err")"
pairs_of "$(serial_of "$W/1.p12")" | grep -qP '\tseat_id=seat1@contoso\.example(\t|$)' || fail "seat_id: $(pairs_of "$(serial_of "$W/1.p12")")"
# a CN without e-mail: the CN
D "$W/priv.conf" enroll --store "$W/s" --profile "$P1" --subject "CN=seat2" --pfx "$W/2.p12" --pfx-pass-file "$W/pass" 2>"$W/2.err" ||
  fail "enroll: $(cat "$W/2.err")"
pairs_of "$(serial_of "$W/2.p12")" | grep -qP '\tseat_id=seat2(\t|$)' || fail "seat_id from the CN: $(pairs_of "$(serial_of "$W/2.p12")")"
# [seat_id] cn for this profile
cp "$W/priv.conf" "$W/cn.conf"; printf '[seat_id]\n%s = cn\n' "$P1" >>"$W/cn.conf"
D "$W/cn.conf" enroll --store "$W/s" --profile "$P1" --subject "CN=seat3,E=seat3@contoso.example" --pfx "$W/3.p12" \
  --pfx-pass-file "$W/pass" 2>"$W/3.err" || fail "enroll: $(cat "$W/3.err")"
pairs_of "$(serial_of "$W/3.p12")" | grep -qP '\tseat_id=seat3(\t|$)' || fail "[seat_id] cn: $(pairs_of "$(serial_of "$W/3.p12")")"
pass "seat_id sent: the e-mail, else the CN; [seat_id] chooses per profile"

# a profile whose policy names the UPN pair user_principal_name
D "$W/priv.conf" enroll --store "$W/s" --profile "$P4" --subject "CN=upn4" --san upn:upn4@contoso.example --pfx "$W/4.p12" \
  --pfx-pass-file "$W/pass" 2>"$W/4.err" || fail "enroll under the renamed UPN pair: $(cat "$W/4.err")"
p=$(pairs_of "$(serial_of "$W/4.p12")")
grep -qP '\tuser_principal_name=upn4@contoso\.example(\t|$)' <<<"$p" && ! grep -qP '\tupn=' <<<"$p" || fail "pairs: $p"
pass "the UPN goes in the pair the policy names (user_principal_name), and the CA issues"

# serials: revoke and status take the serial with leading zeros, colons or lower case
s=$(serial_of "$W/2.p12")
D "$W/priv.conf" status --store "$W/s" --serial "00:$(tr A-F a-f <<<"$s" | sed 's/../&:/g;s/:$//')" >"$W/st" 2>&1 || fail "status: $(cat "$W/st")"
grep -q '^status: *VALID' "$W/st" || fail "status: $(cat "$W/st")"
D "$W/priv.conf" revoke --store "$W/s" --serial "000$s" >"$W/rv" 2>&1 || fail "revoke with leading zeros: $(cat "$W/rv")"
revoked_at_ca "$s" || fail "not revoked at the CA"
pass "serials with leading zeros, colons or lower case are sent in the service's form"
