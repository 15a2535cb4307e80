# Crypt::JWT on the other side of Warden's tokens, as a Perl service behind Warden would use it
# (driven by test/jwt-libraries.test.ts; Debian's libcrypt-jwt-perl, which brings CryptX).
#
# The same line protocol as ruby_jwt.rb: one JSON request per line on stdin, one JSON answer per
# line on stdout, one process keeping its JWKS cache across Warden's restarts.
#
#   {"op": "verify", "token", "algorithms": [...], "jwks_url"? | "secret"?, "iss"?, "aud"?, "leeway"?, "verify_iat"?}
#       -> {"ok": true, "alg", "kid", "sub", "claims"} or {"ok": false, "error": <Crypt::JWT's message, without "at FILE line N">}
#   {"op": "expire"}   the cached JWKS has outlived its max-age: fetch again next time
#   {"op": "sign", "alg", "claims", "kid", "secret"? | "private_jwk"?}
#       -> {"ok": true, "token", "jwk"}: the token Crypt::JWT signs, and the public JWK CryptX exports for the key
#
# Crypt::JWT takes the key set as `kid_keys` and picks the key by the token's kid; it fetches
# nothing, so the service fetches Warden's JWKS (HTTP::Tiny, in Perl's core) and fetches it again
# when a token names a kid the cached set does not hold.
use strict;
use warnings;
use Crypt::JWT qw(decode_jwt encode_jwt);
use Crypt::PK::ECC;
use Crypt::PK::Ed25519;
use Crypt::PK::RSA;
use HTTP::Tiny;
use JSON::PP;

$| = 1;
my $json = JSON::PP->new->canonical->allow_nonref;
my %sets;    # JWKS URL -> decoded key set

sub fetch_set {
  my ($url) = @_;
  my $res = HTTP::Tiny->new(timeout => 10)->get($url);
  die "JWKS fetch answered $res->{status}\n" unless $res->{success};
  return $sets{$url} = $json->decode($res->{content});
}

sub holds_kid {
  my ($set, $kid) = @_;
  return defined $kid && grep { ($_->{kid} // '') eq $kid } @{ $set->{keys} || [] };
}

sub verify {
  my ($req) = @_;
  my %key;
  if (defined $req->{secret}) {
    %key = (key => $req->{secret});
  } else {
    my $url = $req->{jwks_url};
    my ($unverified) = decode_jwt(token => $req->{token}, ignore_signature => 1, decode_header => 1);
    my $set = $sets{$url} // fetch_set($url);
    $set = fetch_set($url) unless holds_kid($set, $unverified->{kid});
    %key = (kid_keys => $set);
  }
  my ($header, $claims) = decode_jwt(
    token => $req->{token}, %key, decode_header => 1,
    accepted_alg => $req->{algorithms},
    verify_exp => 1, verify_nbf => 1, leeway => $req->{leeway} // 0,
    ($req->{verify_iat} ? (verify_iat => 1) : ()),
    (defined $req->{iss} ? (verify_iss => $req->{iss}) : ()),
    (defined $req->{aud} ? (verify_aud => $req->{aud}) : ()),
  );
  return { ok => JSON::PP::true, alg => $header->{alg}, kid => $header->{kid}, sub => $claims->{sub}, claims => $claims };
}

sub sign {
  my ($req) = @_;
  my $alg = $req->{alg};
  my %headers = defined $req->{kid} ? (extra_headers => { kid => $req->{kid} }) : ();
  if (defined $req->{secret}) {
    return { ok => JSON::PP::true, token => encode_jwt(payload => $req->{claims}, alg => $alg, key => $req->{secret}, %headers), jwk => undef };
  }
  my $class = $alg eq 'EdDSA' ? 'Crypt::PK::Ed25519' : $alg =~ /^ES/ ? 'Crypt::PK::ECC' : 'Crypt::PK::RSA';
  my $key = $class->new(\$json->encode($req->{private_jwk}));
  my $jwk = $key->export_key_jwk('public', 1);
  $jwk->{kid} = $req->{kid};
  return { ok => JSON::PP::true, token => encode_jwt(payload => $req->{claims}, alg => $alg, key => $key, %headers), jwk => $jwk };
}

while (my $line = <STDIN>) {
  my $req = $json->decode($line);
  my $answer = eval {
    $req->{op} eq 'verify' ? verify($req)
      : $req->{op} eq 'sign' ? sign($req)
      : $req->{op} eq 'expire' ? do { %sets = (); { ok => JSON::PP::true } }
      : { ok => JSON::PP::false, error => "unknown op $req->{op}" };
  };
  if (!defined $answer) {    # the test asserts which error a bad token raises
    (my $error = $@) =~ s/ at \S+ line \d+\.?\n?\z//;
    chomp $error;
    $answer = { ok => JSON::PP::false, error => $error };
  }
  print $json->encode($answer), "\n";
}
