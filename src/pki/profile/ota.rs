//! Over-the-air enrollment (the profile-service flow): see the module's functions.
