// The Asio vocabulary fedjets networking code is written in: C++20
// coroutines (`awaitable`) over TCP and TLS, and `kTuple`, the completion
// token that makes an awaited operation return its error code in a tuple
// (`auto [ec, n] = co_await ...`) instead of throwing.
//
// Declared in namespace fedjets, not fedjets::common, so that the
// coordinator, the client and common/net spell these names the same way
// without each repeating the aliases.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fedjets {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;

inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace fedjets
