using System.Net.Sockets;
using Npgsql;
using Wolverine.ErrorHandling;

namespace Billing.Host;

/// <summary>
/// PostgreSQL unreachable for a moment (restarting, failing over, a dropped link) is not a fault of
/// the request: the API routes answer 503 with Retry-After instead of a 500, so a client sends the
/// same request again later. Records carry their ids, so a retried batch is safe: whatever was
/// stored already is answered as a duplicate.
/// </summary>
public static class StoreUnavailable
{
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);

    /// <summary>How long a handler waits before each new try while PostgreSQL is away: about four minutes in all, a restart or a failover.</summary>
    static readonly TimeSpan[] Backoff = [.. new[] { 1, 2, 5, 10, 20, 30, 60, 60, 60 }.Select(s => TimeSpan.FromSeconds(s))];

    /// <summary>
    /// A handler whose store went away retries in place with <see cref="Backoff"/>, however Marten or
    /// Wolverine wrapped Npgsql's exception (a MartenCommandException holding 57P01 once parked an
    /// ingest batch at the first try); any other PostgreSQL error is retried after 1, 5 and 15 s. Past
    /// that Wolverine parks the message, which /health/ready reports and `billing dead-letters replay
    /// --messages` sends again.
    /// </summary>
    public static void RetryInPlace(Wolverine.Runtime.Handlers.HandlerChain chain)
    {
        chain.OnException(Is).RetryWithCooldown(Backoff).Then.MoveToErrorQueue();
        chain.OnException(IsOtherPostgresError)
            .RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15)).Then.MoveToErrorQueue();
    }

    /// <summary>
    /// The broker's inline listener cannot retry in place: after a PostgreSQL error inside the
    /// handler's transaction, Wolverine 6.62's inline retry, requeue and pause-then-requeue of the
    /// RabbitMQ delivery all left it unacknowledged for good, with nothing logged (ParkedOnBrokerTests
    /// showed it). A store that went away (no transaction left) pauses the listener with
    /// <see cref="Backoff"/> and puts the message back on the broker, which AsDeployedTests shows
    /// across a PostgreSQL restart; any other PostgreSQL error, already retried three times by Marten,
    /// goes to the broker's dead-letter queue at once, where readiness and /metrics count it.
    /// </summary>
    public static void RequeueOrPark(Wolverine.Runtime.Handlers.HandlerChain chain)
    {
        var away = chain.OnException(Is).PauseThenRequeue(Backoff[0]);
        foreach (var pause in Backoff.Skip(1))
            away = away.Then.PauseThenRequeue(pause);
        away.Then.MoveToErrorQueue();
        chain.OnException(IsOtherPostgresError).MoveToErrorQueue();
    }

    static bool IsOtherPostgresError(Exception e) => e is NpgsqlException || e.InnerException is NpgsqlException;

    public static readonly string Message =
        $"the usage store (PostgreSQL) is unavailable; retry the same request in {RetryAfter.TotalSeconds:0} seconds (records already stored are answered as duplicates)";

    /// <summary>Maps connection failures under /api (and the console's /console) to 503 (registered once, before the routes).</summary>
    public static void Use(WebApplication app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when ((context.Request.Path.StartsWithSegments("/api") || context.Request.Path.StartsWithSegments("/console")) && !context.Response.HasStarted
                                  && !context.RequestAborted.IsCancellationRequested && Is(e))
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StoreUnavailable))
                .LogWarning(e, "{Method} {Path}: PostgreSQL is unavailable, answered 503", context.Request.Method, context.Request.Path);
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = ((int)RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await context.Response.WriteAsJsonAsync(new { error = Message });
        }
    });

    /// <summary>
    /// Whether the exception, or one it wraps (Marten and Wolverine wrap Npgsql's), says PostgreSQL
    /// could not be reached or went away: a PostgresException of class 08 (connection exception) or
    /// 57P01-57P03 (admin / crash shutdown, cannot connect now), 53300 (too many connections: the
    /// server is full for the moment), a transient NpgsqlException (I/O,
    /// timeout, refused connection), or a SocketException. Any other PostgreSQL error is a real one.
    /// </summary>
    public static bool Is(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300";
                case NpgsqlException { IsTransient: true }:
                case SocketException:
                    return true;
                case AggregateException many:
                    return many.InnerExceptions.Any(Is);
            }
        }
        return false;
    }
}
