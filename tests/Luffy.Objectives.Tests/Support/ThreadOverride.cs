namespace Luffy.Objectives.Tests.Support;

/// <summary>Sets one of the library's thread-static test overrides for the length of a call.</summary>
internal static class ThreadOverride
{
    /// <summary>Runs <paramref name="body"/> with <paramref name="field"/> set to <paramref name="value"/>, restoring the field's previous value afterwards.</summary>
    public static T With<TValue, T>(ref TValue field, TValue value, Func<T> body)
    {
        TValue previous = field;
        field = value;
        try
        {
            return body();
        }
        finally
        {
            field = previous;
        }
    }
}
