; example.com, as BIND keeps it: $TTL, $ORIGIN, $INCLUDE, relative and absolute names,
; a wildcard, SRV records of TLS services, an IDN owner in its A-label form.
$TTL 3600
$ORIGIN example.com.
@               IN SOA  ns1.example.com. hostmaster.example.com. (
                        2026120401 ; serial
                        7200       ; refresh
                        3600       ; retry
                        1209600    ; expire
                        300 )      ; negative caching TTL
                IN NS   ns1
                IN NS   ns2.example.net.
ns1             IN A    127.0.0.9
app             IN A    127.0.0.21
api             300 IN A 127.0.0.21
                IN AAAA ::1
www.example.com. IN CNAME app
shop            IN CNAME shops.example.net.
*.preview       IN A    127.0.0.22
xn--bcher-kva   IN A    127.0.0.23
dangling        IN CNAME gone
_https._tcp     IN SRV  10 5 8443 app.example.com.
_submission._tcp IN SRV 0 1 587 mail
_imaps._tcp     IN SRV  0 0 0 .
_xmpp-client._tcp IN SRV 5 0 5222 app
mail            IN A    127.0.0.24
$INCLUDE db.example.com.internal internal.example.com.
; back in example.com after the include (RFC 1035 section 5.1)
status          IN A    127.0.0.25
