package server

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimits are the token buckets of the public edges, each per replica:
// a number of requests a minute (0 turns one off), bursts of the same size.
type RateLimits struct {
	PagesPerMinute     int // pages and the success page, per client address
	CheckoutsPerMinute int // checkouts started from the dashboard, per account
	SignInsPerMinute   int // operator sign-ins, per client address
}

// DefaultRateLimits are the limits unless configured otherwise.
var DefaultRateLimits = RateLimits{PagesPerMinute: 120, CheckoutsPerMinute: 10, SignInsPerMinute: 5}

// maxLimitedKeys bounds the keys one limiter remembers; keys whose bucket is
// full again are forgotten first.
const maxLimitedKeys = 10_000

// keyedLimiter is a token bucket per key (a client address, an account).
type keyedLimiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	buckets map[string]*rate.Limiter
}

func newKeyedLimiter(perMinute int) *keyedLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &keyedLimiter{every: time.Minute / time.Duration(perMinute), burst: perMinute, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for key at now; when there is none it says how long
// until there is one. A nil limiter allows everything.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	bucket, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxLimitedKeys {
			l.forgetFull(now)
		}
		bucket = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = bucket
	}
	reservation := bucket.ReserveN(now, 1)
	if delay := reservation.DelayFrom(now); delay > 0 {
		reservation.CancelAt(now)
		return false, delay
	}
	return true, 0
}

func (l *keyedLimiter) forgetFull(now time.Time) {
	for key, bucket := range l.buckets {
		if bucket.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, key)
		}
	}
}

// limiters are a server's limiters, made once from its RateLimits.
type limiters struct {
	once                      sync.Once
	pages, checkouts, signIns *keyedLimiter
}

func (s *Server) rateLimiters() *limiters {
	s.limits.once.Do(func() {
		limits := s.RateLimits
		if limits == (RateLimits{}) {
			limits = DefaultRateLimits
		}
		s.limits.pages = newKeyedLimiter(limits.PagesPerMinute)
		s.limits.checkouts = newKeyedLimiter(limits.CheckoutsPerMinute)
		s.limits.signIns = newKeyedLimiter(limits.SignInsPerMinute)
	})
	return &s.limits
}

// clientAddress is the address a request came from (the proxy's, behind a
// proxy: every client behind it shares its buckets).
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited answers 429 with Retry-After when key has no token left in l; it
// reports whether it did.
func (s *Server) limited(w http.ResponseWriter, r *http.Request, l *keyedLimiter, key string) bool {
	ok, delay := l.allow(key, time.Now())
	if ok {
		return false
	}
	seconds := int(math.Ceil(delay.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(seconds, 1)))
	s.renderMessage(w, r, http.StatusTooManyRequests, "Too many requests",
		message{Kind: "warn", Message: "Too many requests: please wait " + strconv.Itoa(max(seconds, 1)) + " seconds and try again."})
	return true
}

// limitPages wraps a page handler with the per-address page limit.
func (s *Server) limitPages(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.limited(w, r, s.rateLimiters().pages, clientAddress(r)) {
			return
		}
		next(w, r)
	}
}
