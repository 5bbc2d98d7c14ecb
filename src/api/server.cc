#include "api/server.h"

#include <atomic>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "api/views.h"
#include "core/log.h"

namespace greenshift::api {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

// What the server registry knows of a connection, to pick one to close when full.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Evict() = 0;
  std::atomic<bool> waiting_head{true};      // waiting for (the rest of) a request head
  std::atomic<int64_t> waiting_since_ms{0};  // since when
};

}  // namespace

struct HttpServer::Impl {
  Impl(ServerOptions o, Api& a)
      : options(std::move(o)),
        api(a),
        workers(static_cast<size_t>(std::max(1, options.worker_threads))) {}

  ServerOptions options;
  Api& api;
  asio::io_context ioc;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  asio::thread_pool workers;
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::list<std::weak_ptr<SessionBase>> sessions;
  int port = 0;
  bool stopped = false;

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  // Makes room for one more connection: false when every connection is busy with a request.
  bool MakeRoom();
  void Refuse(tcp::socket socket, int status, const std::string& message);
};

namespace {

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(HttpServer::Impl& server, Stream stream)
      : server_(server), stream_(std::move(stream)), timer_(stream_.get_executor()) {}

  void Run() {
    waiting_since_ms = SteadyMs();
    if constexpr (kTls) {
      Tcp().expires_after(server_.options.header_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->ReadHead();
                              });
    } else {
      ReadHead();
    }
  }

  void Evict() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // A deadline for a read that may still be answered: when it passes, the read is cancelled
  // (not the connection closed, as a stream timeout would), so the client can be told why.
  void Deadline(std::chrono::milliseconds after) {
    timed_out_ = false;
    Tcp().expires_never();
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the read finished first
      self->timed_out_ = true;
      beast::error_code ignored;
      self->Tcp().socket().cancel(ignored);
    });
  }
  void NoDeadline() { timer_.cancel(); }

  void ReadHead() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    // The largest body any route takes (a Content-Length above it fails the head already); the
    // route's own limit is set once the API admitted the request.
    parser_->body_limit(MaxBodyBytes("POST", "/api/readings"));
    waiting_head = true;
    waiting_since_ms = SteadyMs();
    // A new connection must send its head quickly; one that has made a request may wait
    // between requests (a sensor keeping its connection).
    Deadline(first_ ? server_.options.header_timeout : server_.options.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHead(ec); });
  }

  void OnHead(beast::error_code ec) {
    waiting_head = false;
    NoDeadline();
    if (ec == asio::error::operation_aborted && !timed_out_) return;  // evicted or stopped
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset)
      return Close();
    if (timed_out_ || ec == beast::error::timeout) {
      if constexpr (kTls) return Close();  // a cancelled TLS read leaves nothing to answer on
      // A client that said nothing is just closed; one that was sending a head too slowly is
      // told why.
      if (buffer_.size() == 0) return Close();
      return SendError(408, "the request's head did not arrive within " +
                                std::to_string(server_.options.header_timeout.count()) + " ms");
    }
    if (ec == http::error::header_limit)
      return SendError(431, "the request's head is larger than " +
                                std::to_string(server_.options.max_header_bytes) + " bytes");
    if (ec == http::error::body_limit)
      return SendError(413, "the body is larger than any endpoint takes");
    if (ec) return SendError(400, "malformed request: " + ec.message());
    started_ = Clock::now();
    const auto& head = parser_->get();
    method_ = std::string(head.method_string().substr(0, 16));
    ParseTarget(std::string(head.target()), &path_, &query_, &query_pairs_);
    const std::string authorization(head[http::field::authorization]);
    const uint64_t length = parser_->content_length().value_or(0);
    const bool has_body = length > 0 || parser_->chunked();
    std::optional<Response> refused = server_.api.Admit(method_, path_, authorization, length);
    if (refused) {
      // The body, if any, is not read: the connection closes after the answer.
      return Send(std::move(*refused), !has_body);
    }
    parser_->body_limit(MaxBodyBytes(method_, path_));
    if (parser_->is_done()) return Dispatch();
    if (beast::iequals(head[http::field::expect], "100-continue")) {
      Tcp().expires_after(server_.options.write_timeout);
      asio::async_write(stream_, asio::buffer(kContinue, sizeof kContinue - 1),
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    const auto left =
        server_.options.request_timeout -
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
    Tcp().expires_after(std::max(left, std::chrono::milliseconds(1)));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    NoDeadline();
    if (ec == asio::error::operation_aborted && !timed_out_) return;
    if (ec == http::error::body_limit)
      return SendError(413, "the body is larger than this endpoint takes (" +
                                std::to_string(MaxBodyBytes(method_, path_)) + " bytes)");
    if (timed_out_ || ec == beast::error::timeout) {
      if constexpr (kTls) return Close();
      return SendError(408, "the request did not arrive within " +
                                std::to_string(server_.options.request_timeout.count()) + " ms");
    }
    if (ec) return Close();
    Dispatch();
  }

  void Dispatch() {
    Request request;
    request.method = method_;
    request.path = std::move(path_);
    request.query = std::move(query_);
    request.query_pairs = std::move(query_pairs_);
    const auto& message = parser_->get();
    request.authorization = std::string(message[http::field::authorization]);
    request.content_type = std::string(message[http::field::content_type]);
    request.body = std::move(parser_->get().body());
    const bool keep_alive = message.keep_alive();
    Tcp().expires_never();  // nothing is read or written while the API works
    asio::post(server_.workers, [self = this->shared_from_this(), request = std::move(request),
                                 keep_alive]() mutable {
      Response response = self->server_.api.Handle(request);
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response), keep_alive]() mutable {
                   self->Send(std::move(response), keep_alive);
                 });
    });
  }

  void SendError(int status, const std::string& message) {
    server_.api.CountServerResponse(status);
    Response r;
    r.status = status;
    r.body = ErrorBody(message);
    Send(std::move(r), false);
  }

  void Send(Response r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::server, "greenshift");
    res->set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    if (method_ == "HEAD") res->body().clear();  // the length stays: what a GET would send
    Tcp().expires_after(server_.options.write_timeout);
    http::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->Close();
          self->first_ = false;
          self->ReadHead();
        });
  }

  void Close() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Tcp().close();
  }

  static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  HttpServer::Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Clock::time_point started_;
  std::string method_, path_;
  std::map<std::string, std::string> query_;
  std::vector<std::pair<std::string, std::string>> query_pairs_;
  bool first_ = true;
  asio::steady_timer timer_;
  bool timed_out_ = false;
  char drain_[4096];
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

bool HttpServer::Impl::MakeRoom() {
  // The caller holds `mutex`.
  sessions.remove_if([](const std::weak_ptr<SessionBase>& s) { return s.expired(); });
  if (static_cast<int>(sessions.size()) < options.max_connections) return true;
  std::shared_ptr<SessionBase> oldest;
  for (const std::weak_ptr<SessionBase>& weak : sessions) {
    std::shared_ptr<SessionBase> s = weak.lock();
    if (!s || !s->waiting_head) continue;
    if (!oldest || s->waiting_since_ms < oldest->waiting_since_ms) oldest = s;
  }
  if (!oldest) return false;
  oldest->waiting_head = false;  // not picked twice
  oldest->Evict();
  sessions.remove_if(
      [&](const std::weak_ptr<SessionBase>& s) { return s.expired() || s.lock() == oldest; });
  return true;
}

void HttpServer::Impl::Refuse(tcp::socket socket, int status, const std::string& message) {
  api.CountServerResponse(status);
  const std::string body = ErrorBody(message);
  const std::string text = "HTTP/1.1 " + std::to_string(status) +
                           " Service Unavailable\r\nContent-Type: application/json\r\n"
                           "Connection: close\r\nRetry-After: 1\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  asio::write(socket, asio::buffer(text), ignored);  // small: fits the socket's buffer
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
  if (!ec) {
    beast::error_code ignored;
    // Without TCP_NODELAY a response written in two parts waits for the client's delayed ACK.
    socket.set_option(tcp::no_delay(true), ignored);
    std::unique_lock<std::mutex> lock(mutex);
    if (stopped) return;
    if (!MakeRoom()) {
      lock.unlock();
      Refuse(std::move(socket), 503,
             "too many connections (" + std::to_string(options.max_connections) +
                 "), all of them busy: try again");
    } else if (tls) {
      auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls));
      sessions.push_back(session);
      lock.unlock();
      session->Run();
    } else {
      auto session =
          std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)));
      sessions.push_back(session);
      lock.unlock();
      session->Run();
    }
  }
  Accept();
}

HttpServer::HttpServer(ServerOptions options, Api& api)
    : impl_(std::make_unique<Impl>(std::move(options), api)) {}

HttpServer::~HttpServer() {
  Stop();
}

int HttpServer::port() const {
  return impl_->port;
}

bool HttpServer::tls() const {
  return impl_->tls.has_value();
}

Status HttpServer::Start() {
  Impl& s = *impl_;
  const std::string where = s.options.host + ":" + std::to_string(s.options.port);
  if (!s.options.tls_cert.empty()) {
    s.tls.emplace(ssl::context::tls_server);
    s.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    s.tls->use_certificate_chain_file(s.options.tls_cert, ec);
    if (ec)
      return Status::Invalid("api: the TLS certificate " + s.options.tls_cert + ": " +
                             ec.message());
    s.tls->use_private_key_file(s.options.tls_key, ssl::context::pem, ec);
    if (ec) return Status::Invalid("api: the TLS key " + s.options.tls_key + ": " + ec.message());
  }
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(s.options.host, ec);
  if (ec) return Status::Invalid("api: '" + s.options.host + "' is not an IP address");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(s.options.port));
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) return Status::Unavailable("api: cannot open a socket: " + ec.message());
  // SO_REUSEADDR only (a restart binds while old connections linger in TIME_WAIT); never
  // SO_REUSEPORT, which would let a second server share the port.
  s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  s.acceptor.bind(endpoint, ec);
  if (ec)
    return Status::Unavailable("api: cannot listen on " + where + ": " + ec.message() +
                               (ec == asio::error::address_in_use
                                    ? " (another greenshift serve, or another program?)"
                                    : ""));
  s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("api: cannot listen on " + where + ": " + ec.message());
  s.port = s.acceptor.local_endpoint().port();
  s.Accept();
  for (int i = 0; i < std::max(1, s.options.network_threads); ++i)
    s.threads.emplace_back([&s] { s.ioc.run(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.stopped) return;
    s.stopped = true;
  }
  if (s.threads.empty()) return;
  // No new connection, and every open one closed, before the network threads stop.
  std::promise<void> closed;
  asio::post(s.ioc, [&s, &closed] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      for (const std::weak_ptr<SessionBase>& weak : s.sessions) {
        if (std::shared_ptr<SessionBase> session = weak.lock()) session->Evict();
      }
    }
    closed.set_value();
  });
  closed.get_future().wait();
  s.workers.join();  // what the API is doing finishes; its answers may go unsent
  s.ioc.stop();
  for (std::thread& t : s.threads) t.join();
  s.threads.clear();
}

}  // namespace greenshift::api
