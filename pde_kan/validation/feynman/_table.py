"""The equation table: the 100 Feynman Lectures equations, the 20 AI Feynman bonus equations and pykan's toy,
each with its published formula, variables and sampling ranges (see :mod:`pde_kan.validation.feynman`).

This module is one table and nothing else (about 280 lines of entries); it registers every entry in
:mod:`.equations` when imported.
"""
from __future__ import annotations

import math

import torch

from .equations import _eq

PI = math.pi
SQRT_2PI = math.sqrt(2 * math.pi)


def _inv_sqrt_gamma(v, c):
    """``1 / sqrt(1 - v^2 / c^2)``."""
    return torch.rsqrt(1 - (v / c) ** 2)


def _bose(z):
    """``1 / (exp(z) - 1)`` accurate for small ``z``."""
    return 1 / torch.expm1(z)


def _sinc2(a):
    """``sin(a)^2 / a^2`` with its limit 1 at ``a = 0``."""
    return torch.sinc(a / PI) ** 2


# --- Feynman Lectures, volume I ------------------------------------------------------------------------------
_eq("I.6.20a", 1, "theta=1..3", "exp(-theta^2/2)/sqrt(2*pi)",
    lambda theta: torch.exp(-theta ** 2 / 2) / SQRT_2PI, aliases=("I.6.2a",))
_eq("I.6.20", 2, "sigma=1..3 theta=1..3", "exp(-(theta/sigma)^2/2)/(sqrt(2*pi)*sigma)",
    lambda sigma, theta: torch.exp(-(theta / sigma) ** 2 / 2) / (SQRT_2PI * sigma), aliases=("I.6.2",))
_eq("I.6.20b", 3, "sigma=1..3 theta=1..3 theta1=1..3", "exp(-((theta-theta1)/sigma)^2/2)/(sqrt(2*pi)*sigma)",
    lambda sigma, theta, theta1: torch.exp(-((theta - theta1) / sigma) ** 2 / 2) / (SQRT_2PI * sigma),
    aliases=("I.6.2b",))
_eq("I.8.14", 4, "x1=1..5 x2=1..5 y1=1..5 y2=1..5", "sqrt((x2-x1)^2+(y2-y1)^2)",
    lambda x1, x2, y1, y2: torch.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2), aliases=("I.8.4",))
_eq("I.9.18", 5, "m1=1..2 m2=1..2 G=1..2 x1=3..4 x2=1..2 y1=3..4 y2=1..2 z1=3..4 z2=1..2",
    "G*m1*m2/((x2-x1)^2+(y2-y1)^2+(z2-z1)^2)",
    lambda m1, m2, G, x1, x2, y1, y2, z1, z2: G * m1 * m2 / ((x2 - x1) ** 2 + (y2 - y1) ** 2 + (z2 - z1) ** 2))
_eq("I.10.7", 6, "m_0=1..5 v=1..2 c=3..10", "m_0/sqrt(1-v^2/c^2)",
    lambda m_0, v, c: m_0 * _inv_sqrt_gamma(v, c))
_eq("I.11.19", 7, "x1=1..5 x2=1..5 x3=1..5 y1=1..5 y2=1..5 y3=1..5", "x1*y1+x2*y2+x3*y3",
    lambda x1, x2, x3, y1, y2, y3: x1 * y1 + x2 * y2 + x3 * y3)
_eq("I.12.1", 8, "mu=1..5 Nn=1..5", "mu*Nn", lambda mu, Nn: mu * Nn)
_eq("I.12.2", 9, "q1=1..5 q2=1..5 epsilon=1..5 r=1..5", "q1*q2*r/(4*pi*epsilon*r^3)",
    lambda q1, q2, epsilon, r: q1 * q2 / (4 * PI * epsilon * r ** 2))
_eq("I.12.4", 10, "q1=1..5 epsilon=1..5 r=1..5", "q1*r/(4*pi*epsilon*r^3)",
    lambda q1, epsilon, r: q1 / (4 * PI * epsilon * r ** 2))
_eq("I.12.5", 11, "q2=1..5 Ef=1..5", "q2*Ef", lambda q2, Ef: q2 * Ef)
_eq("I.12.11", 12, "q=1..5 Ef=1..5 B=1..5 v=1..5 theta=1..5", "q*(Ef+B*v*sin(theta))",
    lambda q, Ef, B, v, theta: q * (Ef + B * v * torch.sin(theta)))
_eq("I.13.4", 13, "m=1..5 v=1..5 u=1..5 w=1..5", "1/2*m*(v^2+u^2+w^2)",
    lambda m, v, u, w: 0.5 * m * (v ** 2 + u ** 2 + w ** 2))
_eq("I.13.12", 14, "m1=1..5 m2=1..5 r1=1..5 r2=1..5 G=1..5", "G*m1*m2*(1/r2-1/r1)",
    lambda m1, m2, r1, r2, G: G * m1 * m2 * (1 / r2 - 1 / r1))
_eq("I.14.3", 15, "m=1..5 g=1..5 z=1..5", "m*g*z", lambda m, g, z: m * g * z)
_eq("I.14.4", 16, "k_spring=1..5 x=1..5", "1/2*k_spring*x^2", lambda k_spring, x: 0.5 * k_spring * x ** 2)
_eq("I.15.3x", 17, "x=5..10 u=1..2 c=3..20 t=1..2", "(x-u*t)/sqrt(1-u^2/c^2)",
    lambda x, u, c, t: (x - u * t) * _inv_sqrt_gamma(u, c))
_eq("I.15.3t", 18, "x=1..5 c=3..10 u=1..2 t=1..5", "(t-u*x/c^2)/sqrt(1-u^2/c^2)",
    lambda x, c, u, t: (t - u * x / c ** 2) * _inv_sqrt_gamma(u, c))
_eq("I.15.10", 19, "m_0=1..5 v=1..2 c=3..10", "m_0*v/sqrt(1-v^2/c^2)",
    lambda m_0, v, c: m_0 * v * _inv_sqrt_gamma(v, c), aliases=("I.15.1",))
_eq("I.16.6", 20, "c=1..5 v=1..5 u=1..5", "(u+v)/(1+u*v/c^2)",
    lambda c, v, u: (u + v) / (1 + u * v / c ** 2))
_eq("I.18.4", 21, "m1=1..5 m2=1..5 r1=1..5 r2=1..5", "(m1*r1+m2*r2)/(m1+m2)",
    lambda m1, m2, r1, r2: (m1 * r1 + m2 * r2) / (m1 + m2))
_eq("I.18.12", 22, "r=1..5 F=1..5 theta=0..5", "r*F*sin(theta)",
    lambda r, F, theta: r * F * torch.sin(theta))
_eq("I.18.14", 23, "m=1..5 r=1..5 v=1..5 theta=1..5", "m*r*v*sin(theta)",
    lambda m, r, v, theta: m * r * v * torch.sin(theta), aliases=("I.18.16",))
_eq("I.24.6", 24, "m=1..3 omega=1..3 omega_0=1..3 x=1..3", "1/2*m*(omega^2+omega_0^2)*1/2*x^2",
    lambda m, omega, omega_0, x: 0.25 * m * (omega ** 2 + omega_0 ** 2) * x ** 2)
_eq("I.25.13", 25, "q=1..5 C=1..5", "q/C", lambda q, C: q / C)
_eq("I.26.2", 26, "n=0..1 theta2=1..5", "arcsin(n*sin(theta2))",
    lambda n, theta2: torch.arcsin(n * torch.sin(theta2)))
_eq("I.27.6", 27, "d1=1..5 d2=1..5 n=1..5", "1/(1/d1+n/d2)", lambda d1, d2, n: 1 / (1 / d1 + n / d2))
_eq("I.29.4", 28, "omega=1..10 c=1..10", "omega/c", lambda omega, c: omega / c)
_eq("I.29.16", 29, "x1=1..5 x2=1..5 theta1=1..5 theta2=1..5", "sqrt(x1^2+x2^2-2*x1*x2*cos(theta1-theta2))",
    # the radicand is >= (x1 - x2)^2 >= 0; the clamp only removes rounding below zero
    lambda x1, x2, theta1, theta2: torch.sqrt(
        (x1 ** 2 + x2 ** 2 - 2 * x1 * x2 * torch.cos(theta1 - theta2)).clamp_min(0)))
_eq("I.30.3", 30, "Int_0=1..5 theta=1..5 n=1..5", "Int_0*sin(n*theta/2)^2/sin(theta/2)^2",
    lambda Int_0, theta, n: Int_0 * torch.sin(n * theta / 2) ** 2 / torch.sin(theta / 2) ** 2)
_eq("I.30.5", 31, "lambd=1..2 d=2..5 n=1..5", "arcsin(lambd/(n*d))",
    lambda lambd, d, n: torch.arcsin(lambd / (n * d)))
_eq("I.32.5", 32, "q=1..5 a=1..5 epsilon=1..5 c=1..5", "q^2*a^2/(6*pi*epsilon*c^3)",
    lambda q, a, epsilon, c: q ** 2 * a ** 2 / (6 * PI * epsilon * c ** 3))
_eq("I.32.17", 33, "epsilon=1..2 c=1..2 Ef=1..2 r=1..2 omega=1..2 omega_0=3..5",
    "(1/2*epsilon*c*Ef^2)*(8*pi*r^2/3)*(omega^4/(omega^2-omega_0^2)^2)",
    lambda epsilon, c, Ef, r, omega, omega_0: (0.5 * epsilon * c * Ef ** 2) * (8 * PI * r ** 2 / 3)
    * (omega ** 4 / (omega ** 2 - omega_0 ** 2) ** 2))
_eq("I.34.8", 34, "q=1..5 v=1..5 B=1..5 p=1..5", "q*v*B/p", lambda q, v, B, p: q * v * B / p)
_eq("I.34.10", 35, "c=3..10 v=1..2 omega_0=1..5", "omega_0/(1-v/c)",
    lambda c, v, omega_0: omega_0 / (1 - v / c), aliases=("I.34.1",))
_eq("I.34.14", 36, "c=3..10 v=1..2 omega_0=1..5", "(1+v/c)/sqrt(1-v^2/c^2)*omega_0",
    lambda c, v, omega_0: (1 + v / c) * _inv_sqrt_gamma(v, c) * omega_0)
_eq("I.34.27", 37, "omega=1..5 h=1..5", "(h/(2*pi))*omega", lambda omega, h: h / (2 * PI) * omega)
_eq("I.37.4", 38, "I1=1..5 I2=1..5 delta=1..5", "I1+I2+2*sqrt(I1*I2)*cos(delta)",
    lambda I1, I2, delta: I1 + I2 + 2 * torch.sqrt(I1 * I2) * torch.cos(delta))
_eq("I.38.12", 39, "m=1..5 q=1..5 h=1..5 epsilon=1..5", "4*pi*epsilon*(h/(2*pi))^2/(m*q^2)",
    lambda m, q, h, epsilon: 4 * PI * epsilon * (h / (2 * PI)) ** 2 / (m * q ** 2))
_eq("I.39.10", 40, "pr=1..5 V=1..5", "3/2*pr*V", lambda pr, V: 1.5 * pr * V, aliases=("I.39.1",))
_eq("I.39.11", 41, "gamma=2..5 pr=1..5 V=1..5", "1/(gamma-1)*pr*V", lambda gamma, pr, V: pr * V / (gamma - 1))
_eq("I.39.22", 42, "n=1..5 T=1..5 V=1..5 kb=1..5", "n*kb*T/V", lambda n, T, V, kb: n * kb * T / V)
_eq("I.40.1", 43, "n_0=1..5 m=1..5 x=1..5 T=1..5 g=1..5 kb=1..5", "n_0*exp(-m*g*x/(kb*T))",
    lambda n_0, m, x, T, g, kb: n_0 * torch.exp(-m * g * x / (kb * T)))
_eq("I.41.16", 44, "omega=1..5 T=1..5 h=1..5 kb=1..5 c=1..5",
    "h/(2*pi)*omega^3/(pi^2*c^2*(exp((h/(2*pi))*omega/(kb*T))-1))",
    lambda omega, T, h, kb, c: h / (2 * PI) * omega ** 3 / (PI ** 2 * c ** 2)
    * _bose(h / (2 * PI) * omega / (kb * T)))
_eq("I.43.16", 45, "mu_drift=1..5 q=1..5 Volt=1..5 d=1..5", "mu_drift*q*Volt/d",
    lambda mu_drift, q, Volt, d: mu_drift * q * Volt / d)
_eq("I.43.31", 46, "mob=1..5 T=1..5 kb=1..5", "mob*kb*T", lambda mob, T, kb: mob * kb * T)
_eq("I.43.43", 47, "gamma=2..5 kb=1..5 A=1..5 v=1..5", "1/(gamma-1)*kb*v/A",
    lambda gamma, kb, A, v: kb * v / (A * (gamma - 1)))
_eq("I.44.4", 48, "n=1..5 kb=1..5 T=1..5 V1=1..5 V2=1..5", "n*kb*T*ln(V2/V1)",
    lambda n, kb, T, V1, V2: n * kb * T * torch.log(V2 / V1))
_eq("I.47.23", 49, "gamma=1..5 pr=1..5 rho=1..5", "sqrt(gamma*pr/rho)",
    lambda gamma, pr, rho: torch.sqrt(gamma * pr / rho))
_eq("I.48.20", 50, "m=1..5 v=1..2 c=3..10", "m*c^2/sqrt(1-v^2/c^2)",
    lambda m, v, c: m * c ** 2 * _inv_sqrt_gamma(v, c), aliases=("I.48.2",))
_eq("I.50.26", 51, "x1=1..3 omega=1..3 t=1..3 alpha=1..3", "x1*(cos(omega*t)+alpha*cos(omega*t)^2)",
    lambda x1, omega, t, alpha: x1 * (torch.cos(omega * t) + alpha * torch.cos(omega * t) ** 2))

# --- Feynman Lectures, volume II -----------------------------------------------------------------------------
_eq("II.2.42", 52, "kappa=1..5 T1=1..5 T2=1..5 A=1..5 d=1..5", "kappa*(T2-T1)*A/d",
    lambda kappa, T1, T2, A, d: kappa * (T2 - T1) * A / d)
_eq("II.3.24", 53, "Pwr=1..5 r=1..5", "Pwr/(4*pi*r^2)", lambda Pwr, r: Pwr / (4 * PI * r ** 2))
_eq("II.4.23", 54, "q=1..5 epsilon=1..5 r=1..5", "q/(4*pi*epsilon*r)",
    lambda q, epsilon, r: q / (4 * PI * epsilon * r))
_eq("II.6.11", 55, "epsilon=1..3 p_d=1..3 theta=1..3 r=1..3", "1/(4*pi*epsilon)*p_d*cos(theta)/r^2",
    lambda epsilon, p_d, theta, r: p_d * torch.cos(theta) / (4 * PI * epsilon * r ** 2))
_eq("II.6.15a", 56, "epsilon=1..3 p_d=1..3 r=1..3 x=1..3 y=1..3 z=1..3",
    "p_d/(4*pi*epsilon)*3*z/r^5*sqrt(x^2+y^2)",
    lambda epsilon, p_d, r, x, y, z: p_d / (4 * PI * epsilon) * 3 * z / r ** 5 * torch.sqrt(x ** 2 + y ** 2))
_eq("II.6.15b", 57, "epsilon=1..3 p_d=1..3 theta=1..3 r=1..3", "p_d/(4*pi*epsilon)*3*cos(theta)*sin(theta)/r^3",
    lambda epsilon, p_d, theta, r: p_d / (4 * PI * epsilon) * 3 * torch.cos(theta) * torch.sin(theta) / r ** 3)
_eq("II.8.7", 58, "q=1..5 epsilon=1..5 d=1..5", "3/5*q^2/(4*pi*epsilon*d)",
    lambda q, epsilon, d: 0.6 * q ** 2 / (4 * PI * epsilon * d))
_eq("II.8.31", 59, "epsilon=1..5 Ef=1..5", "epsilon*Ef^2/2", lambda epsilon, Ef: epsilon * Ef ** 2 / 2)
_eq("II.10.9", 60, "sigma_den=1..5 epsilon=1..5 chi=1..5", "sigma_den/epsilon*1/(1+chi)",
    lambda sigma_den, epsilon, chi: sigma_den / epsilon / (1 + chi), aliases=("I.10.9",))
_eq("II.11.3", 61, "q=1..3 Ef=1..3 m=1..3 omega_0=3..5 omega=1..2", "q*Ef/(m*(omega_0^2-omega^2))",
    lambda q, Ef, m, omega_0, omega: q * Ef / (m * (omega_0 ** 2 - omega ** 2)))
_eq("II.11.17", 62, "n_0=1..3 kb=1..3 T=1..3 theta=1..3 p_d=1..3 Ef=1..3", "n_0*(1+p_d*Ef*cos(theta)/(kb*T))",
    lambda n_0, kb, T, theta, p_d, Ef: n_0 * (1 + p_d * Ef * torch.cos(theta) / (kb * T)))
_eq("II.11.20", 63, "n_rho=1..5 p_d=1..5 Ef=1..5 kb=1..5 T=1..5", "n_rho*p_d^2*Ef/(3*kb*T)",
    lambda n_rho, p_d, Ef, kb, T: n_rho * p_d ** 2 * Ef / (3 * kb * T))
_eq("II.11.27", 64, "n=0..1 alpha=0..1 epsilon=1..2 Ef=1..2", "n*alpha/(1-(n*alpha/3))*epsilon*Ef",
    lambda n, alpha, epsilon, Ef: n * alpha / (1 - n * alpha / 3) * epsilon * Ef)
_eq("II.11.28", 65, "n=0..1 alpha=0..1", "1+n*alpha/(1-(n*alpha/3))",
    lambda n, alpha: 1 + n * alpha / (1 - n * alpha / 3))
_eq("II.13.17", 66, "epsilon=1..5 c=1..5 I=1..5 r=1..5", "1/(4*pi*epsilon*c^2)*2*I/r",
    lambda epsilon, c, I, r: 2 * I / (4 * PI * epsilon * c ** 2 * r))
_eq("II.13.23", 67, "rho_c_0=1..5 v=1..2 c=3..10", "rho_c_0/sqrt(1-v^2/c^2)",
    lambda rho_c_0, v, c: rho_c_0 * _inv_sqrt_gamma(v, c))
_eq("II.13.34", 68, "rho_c_0=1..5 v=1..2 c=3..10", "rho_c_0*v/sqrt(1-v^2/c^2)",
    lambda rho_c_0, v, c: rho_c_0 * v * _inv_sqrt_gamma(v, c))
_eq("II.15.4", 69, "mom=1..5 B=1..5 theta=1..5", "-mom*B*cos(theta)",
    lambda mom, B, theta: -mom * B * torch.cos(theta))
_eq("II.15.5", 70, "p_d=1..5 Ef=1..5 theta=1..5", "-p_d*Ef*cos(theta)",
    lambda p_d, Ef, theta: -p_d * Ef * torch.cos(theta))
_eq("II.21.32", 71, "q=1..5 epsilon=1..5 r=1..5 v=1..2 c=3..10", "q/(4*pi*epsilon*r*(1-v/c))",
    lambda q, epsilon, r, v, c: q / (4 * PI * epsilon * r * (1 - v / c)))
_eq("II.24.17", 72, "omega=4..6 c=1..2 d=2..4", "sqrt(omega^2/c^2-pi^2/d^2)",
    lambda omega, c, d: torch.sqrt(omega ** 2 / c ** 2 - PI ** 2 / d ** 2))
_eq("II.27.16", 73, "epsilon=1..5 c=1..5 Ef=1..5", "epsilon*c*Ef^2", lambda epsilon, c, Ef: epsilon * c * Ef ** 2)
_eq("II.27.18", 74, "epsilon=1..5 Ef=1..5", "epsilon*Ef^2", lambda epsilon, Ef: epsilon * Ef ** 2)
_eq("II.34.2a", 75, "q=1..5 v=1..5 r=1..5", "q*v/(2*pi*r)", lambda q, v, r: q * v / (2 * PI * r))
_eq("II.34.2", 76, "q=1..5 v=1..5 r=1..5", "q*v*r/2", lambda q, v, r: q * v * r / 2)
_eq("II.34.11", 77, "g_=1..5 q=1..5 B=1..5 m=1..5", "g_*q*B/(2*m)", lambda g_, q, B, m: g_ * q * B / (2 * m))
_eq("II.34.29a", 78, "q=1..5 h=1..5 m=1..5", "q*h/(4*pi*m)", lambda q, h, m: q * h / (4 * PI * m))
_eq("II.34.29b", 79, "g_=1..5 h=1..5 Jz=1..5 mom=1..5 B=1..5", "g_*mom*B*Jz/(h/(2*pi))",
    lambda g_, h, Jz, mom, B: g_ * mom * B * Jz / (h / (2 * PI)))
_eq("II.35.18", 80, "n_0=1..3 kb=1..3 T=1..3 mom=1..3 B=1..3", "n_0/(exp(mom*B/(kb*T))+exp(-mom*B/(kb*T)))",
    lambda n_0, kb, T, mom, B: n_0 / (torch.exp(mom * B / (kb * T)) + torch.exp(-mom * B / (kb * T))))
_eq("II.35.21", 81, "n_rho=1..5 mom=1..5 B=1..5 kb=1..5 T=1..5", "n_rho*mom*tanh(mom*B/(kb*T))",
    lambda n_rho, mom, B, kb, T: n_rho * mom * torch.tanh(mom * B / (kb * T)))
_eq("II.36.38", 82, "mom=1..3 H=1..3 kb=1..3 T=1..3 alpha=1..3 epsilon=1..3 c=1..3 M=1..3",
    "mom*H/(kb*T)+(mom*alpha)/(epsilon*c^2*kb*T)*M",
    lambda mom, H, kb, T, alpha, epsilon, c, M: mom * H / (kb * T) + mom * alpha * M / (epsilon * c ** 2 * kb * T))
_eq("II.37.1", 83, "mom=1..5 B=1..5 chi=1..5", "mom*(1+chi)*B", lambda mom, B, chi: mom * (1 + chi) * B)
_eq("II.38.3", 84, "Y=1..5 A=1..5 d=1..5 x=1..5", "Y*A*x/d", lambda Y, A, d, x: Y * A * x / d)
_eq("II.38.14", 85, "Y=1..5 sigma=1..5", "Y/(2*(1+sigma))", lambda Y, sigma: Y / (2 * (1 + sigma)))

# --- Feynman Lectures, volume III ----------------------------------------------------------------------------
_eq("III.4.32", 86, "h=1..5 omega=1..5 kb=1..5 T=1..5", "1/(exp((h/(2*pi))*omega/(kb*T))-1)",
    lambda h, omega, kb, T: _bose(h / (2 * PI) * omega / (kb * T)))
_eq("III.4.33", 87, "h=1..5 omega=1..5 kb=1..5 T=1..5", "(h/(2*pi))*omega/(exp((h/(2*pi))*omega/(kb*T))-1)",
    lambda h, omega, kb, T: h / (2 * PI) * omega * _bose(h / (2 * PI) * omega / (kb * T)))
_eq("III.7.38", 88, "mom=1..5 B=1..5 h=1..5", "2*mom*B/(h/(2*pi))", lambda mom, B, h: 2 * mom * B / (h / (2 * PI)))
_eq("III.8.54", 89, "E_n=1..2 t=1..2 h=1..4", "sin(E_n*t/(h/(2*pi)))^2",
    lambda E_n, t, h: torch.sin(E_n * t / (h / (2 * PI))) ** 2)
_eq("III.9.52", 90, "p_d=1..3 Ef=1..3 t=1..3 h=1..3 omega=1..5 omega_0=1..5",
    "(p_d*Ef*t/(h/(2*pi)))*sin((omega-omega_0)*t/2)^2/((omega-omega_0)*t/2)^2",
    lambda p_d, Ef, t, h, omega, omega_0: p_d * Ef * t / (h / (2 * PI)) * _sinc2((omega - omega_0) * t / 2))
_eq("III.10.19", 91, "mom=1..5 Bx=1..5 By=1..5 Bz=1..5", "mom*sqrt(Bx^2+By^2+Bz^2)",
    lambda mom, Bx, By, Bz: mom * torch.sqrt(Bx ** 2 + By ** 2 + Bz ** 2))
_eq("III.12.43", 92, "n=1..5 h=1..5", "n*(h/(2*pi))", lambda n, h: n * h / (2 * PI))
_eq("III.13.18", 93, "E_n=1..5 d=1..5 k=1..5 h=1..5", "2*E_n*d^2*k/(h/(2*pi))",
    lambda E_n, d, k, h: 2 * E_n * d ** 2 * k / (h / (2 * PI)))
_eq("III.14.14", 94, "I_0=1..5 q=1..2 Volt=1..2 kb=1..2 T=1..2", "I_0*(exp(q*Volt/(kb*T))-1)",
    lambda I_0, q, Volt, kb, T: I_0 * torch.expm1(q * Volt / (kb * T)))
_eq("III.15.12", 95, "U=1..5 k=1..5 d=1..5", "2*U*(1-cos(k*d))", lambda U, k, d: 2 * U * (1 - torch.cos(k * d)))
_eq("III.15.14", 96, "h=1..5 E_n=1..5 d=1..5", "(h/(2*pi))^2/(2*E_n*d^2)",
    lambda h, E_n, d: (h / (2 * PI)) ** 2 / (2 * E_n * d ** 2))
_eq("III.15.27", 97, "alpha=1..5 n=1..5 d=1..5", "2*pi*alpha/(n*d)", lambda alpha, n, d: 2 * PI * alpha / (n * d))
_eq("III.17.37", 98, "beta=1..5 alpha=1..5 theta=1..5", "beta*(1+alpha*cos(theta))",
    lambda beta, alpha, theta: beta * (1 + alpha * torch.cos(theta)))
_eq("III.19.51", 99, "m=1..5 q=1..5 h=1..5 n=1..5 epsilon=1..5",
    "-m*q^4/(2*(4*pi*epsilon)^2*(h/(2*pi))^2)*(1/n^2)",
    lambda m, q, h, n, epsilon: -m * q ** 4 / (2 * (4 * PI * epsilon) ** 2 * (h / (2 * PI)) ** 2) / n ** 2)
_eq("III.21.20", 100, "rho_c_0=1..5 q=1..5 A_vec=1..5 m=1..5", "-rho_c_0*q*A_vec/m",
    lambda rho_c_0, q, A_vec, m: -rho_c_0 * q * A_vec / m)

# --- AI Feynman bonus equations (BonusEquations.csv: test_1 .. test_20), in pykan's order -----------------------
_B = "bonus"
_eq("Rutherford scattering", 101, "Z_1=1..2 Z_2=1..2 alpha=1..2 hbar=1..2 c=1..2 E_n=1..3 theta=1..3",
    "(Z_1*Z_2*alpha*hbar*c/(4*E_n*sin(theta/2)^2))^2",
    lambda Z_1, Z_2, alpha, hbar, c, E_n, theta: (Z_1 * Z_2 * alpha * hbar * c / (4 * E_n * torch.sin(theta / 2) ** 2))
    ** 2, _B, aliases=("test_1", "Rutherforld scattering"))
_eq("Friedman equation", 102, "G=1..3 rho=1..3 alpha=1..2 c=1..2 d=1..3", "sqrt(8*pi*G*rho/3-alpha*c^2/d^2)",
    lambda G, rho, alpha, c, d: torch.sqrt(8 * PI * G * rho / 3 - alpha * c ** 2 / d ** 2), _B, aliases=("test_7",))
_eq("Compton scattering", 103, "E_n=1..3 m=1..3 c=1..3 theta=1..3", "E_n/(1+E_n/(m*c^2)*(1-cos(theta)))",
    lambda E_n, m, c, theta: E_n / (1 + E_n / (m * c ** 2) * (1 - torch.cos(theta))), _B, aliases=("test_8",))
_eq("Radiated gravitational wave power", 104, "G=1..2 c=1..2 m1=1..5 m2=1..5 r=1..2",
    "-32/5*G^4/c^5*(m1*m2)^2*(m1+m2)/r^5",
    lambda G, c, m1, m2, r: -32 / 5 * G ** 4 / c ** 5 * (m1 * m2) ** 2 * (m1 + m2) / r ** 5, _B,
    aliases=("test_9",))
_eq("Relativistic aberration", 105, "c=4..6 v=1..3 theta2=1..3", "arccos((cos(theta2)-v/c)/(1-v/c*cos(theta2)))",
    lambda c, v, theta2: torch.arccos((torch.cos(theta2) - v / c) / (1 - v / c * torch.cos(theta2))), _B,
    aliases=("test_10",))
_eq("N-slit diffraction", 106, "I_0=1..3 alpha=1..3 delta=1..3 n=1..2",
    "I_0*(sin(alpha/2)*sin(n*delta/2)/(alpha/2*sin(delta/2)))^2",
    lambda I_0, alpha, delta, n: I_0 * (torch.sin(alpha / 2) * torch.sin(n * delta / 2)
                                        / (alpha / 2 * torch.sin(delta / 2))) ** 2, _B, aliases=("test_11",))
_eq("Goldstein 3.16", 107, "m=1..3 E_n=8..12 U=1..3 L=1..3 r=1..3", "sqrt(2/m*(E_n-U-L^2/(2*m*r^2)))",
    lambda m, E_n, U, L, r: torch.sqrt(2 / m * (E_n - U - L ** 2 / (2 * m * r ** 2))), _B, aliases=("test_4",))
_eq("Goldstein 3.55", 108, "m=1..3 k_G=1..3 L=1..3 E_n=1..3 theta1=0..6 theta2=0..6",
    "m*k_G/L^2*(1+sqrt(1+2*E_n*L^2/(m*k_G^2))*cos(theta1-theta2))",
    lambda m, k_G, L, E_n, theta1, theta2: m * k_G / L ** 2
    * (1 + torch.sqrt(1 + 2 * E_n * L ** 2 / (m * k_G ** 2)) * torch.cos(theta1 - theta2)), _B, aliases=("test_2",))
_eq("Goldstein 3.64 (ellipse)", 109, "d=1..3 alpha=2..4 theta1=4..5 theta2=4..5",
    "d*(1-alpha^2)/(1+alpha*cos(theta1-theta2))",
    lambda d, alpha, theta1, theta2: d * (1 - alpha ** 2) / (1 + alpha * torch.cos(theta1 - theta2)), _B,
    aliases=("test_3",))
_eq("Goldstein 3.74 (Kepler)", 110, "d=1..3 G=1..3 m1=1..3 m2=1..3", "2*pi*d^(3/2)/sqrt(G*(m1+m2))",
    lambda d, G, m1, m2: 2 * PI * d ** 1.5 / torch.sqrt(G * (m1 + m2)), _B, aliases=("test_5",))
_eq("Goldstein 3.99", 111, "epsilon=1..3 L=1..3 m=1..3 Z_1=1..3 Z_2=1..3 q=1..3 E_n=1..3",
    "sqrt(1+2*epsilon^2*E_n*L^2/(m*(Z_1*Z_2*q^2)^2))",
    lambda epsilon, L, m, Z_1, Z_2, q, E_n: torch.sqrt(1 + 2 * epsilon ** 2 * E_n * L ** 2
                                                       / (m * (Z_1 * Z_2 * q ** 2) ** 2)), _B, aliases=("test_6",))
_eq("Goldstein 8.56", 112, "m=1..5 c=1..5 p=1..5 q=1..5 A_vec=1..5 Volt=1..5",
    "sqrt((p-q*A_vec)^2*c^2+m^2*c^4)+q*Volt",
    lambda m, c, p, q, A_vec, Volt: torch.sqrt((p - q * A_vec) ** 2 * c ** 2 + m ** 2 * c ** 4) + q * Volt, _B,
    aliases=("test_16",))
_eq("Goldstein 12.80", 113, "m=1..5 omega=1..5 p=1..5 y=1..5 x=1..5 alpha=1..5",
    "1/(2*m)*(p^2+m^2*omega^2*x^2*(1+alpha*x/y))",
    lambda m, omega, p, y, x, alpha: (p ** 2 + m ** 2 * omega ** 2 * x ** 2 * (1 + alpha * x / y)) / (2 * m), _B,
    aliases=("test_17",))
_eq("Jackson 2.11", 114, "q=1..5 y=1..3 Volt=1..5 d=4..6 epsilon=1..5",
    "q/(4*pi*epsilon*y^2)*(4*pi*epsilon*Volt*d-q*d*y^3/(y^2-d^2)^2)",
    lambda q, y, Volt, d, epsilon: q / (4 * PI * epsilon * y ** 2)
    * (4 * PI * epsilon * Volt * d - q * d * y ** 3 / (y ** 2 - d ** 2) ** 2), _B, aliases=("test_12",))
_eq("Jackson 3.45", 115, "q=1..5 r=1..3 d=4..6 alpha=0..6 epsilon=1..5",
    "1/(4*pi*epsilon)*q/sqrt(r^2+d^2-2*r*d*cos(alpha))",
    lambda q, r, d, alpha, epsilon: q / (4 * PI * epsilon * torch.sqrt(r ** 2 + d ** 2 - 2 * r * d * torch.cos(alpha))),
    _B, aliases=("test_13",))
_eq("Jackson 4.60", 116, "Ef=1..5 theta=0..6 r=1..5 d=1..5 alpha=1..5",
    "Ef*cos(theta)*(-r+d^3/r^2*(alpha-1)/(alpha+2))",
    lambda Ef, theta, r, d, alpha: Ef * torch.cos(theta) * (-r + d ** 3 / r ** 2 * (alpha - 1) / (alpha + 2)), _B,
    aliases=("test_14",))
_eq("Jackson 11.38 (Doppler)", 117, "c=5..20 v=1..3 omega=1..5 theta=0..6",
    "sqrt(1-v^2/c^2)*omega/(1+v/c*cos(theta))",
    lambda c, v, omega, theta: torch.sqrt(1 - (v / c) ** 2) * omega / (1 + v / c * torch.cos(theta)), _B,
    aliases=("test_15",))
_eq("Weinberg 15.2.1", 118, "G=1..5 k_f=1..5 r=1..5 H_G=1..5 c=1..5", "3/(8*pi*G)*(c^2*k_f/r^2+H_G^2)",
    lambda G, k_f, r, H_G, c: 3 / (8 * PI * G) * (c ** 2 * k_f / r ** 2 + H_G ** 2), _B, aliases=("test_18",))
_eq("Weinberg 15.2.2", 119, "G=1..5 k_f=1..5 r=1..5 H_G=1..5 alpha=1..5 c=1..5",
    "-1/(8*pi*G)*(c^4*k_f/r^2+H_G^2*c^2*(1-2*alpha))",
    lambda G, k_f, r, H_G, alpha, c: -1 / (8 * PI * G) * (c ** 4 * k_f / r ** 2 + H_G ** 2 * c ** 2 * (1 - 2 * alpha)),
    _B, aliases=("test_19",))
_eq("Schwarz 13.132 (Klein-Nishina)", 120, "omega=1..5 omega_0=1..5 alpha=1..5 h=1..5 m=1..5 c=1..5 beta=0..6",
    "1/(4*pi)*alpha^2*h^2/(m^2*c^2)*(omega_0/omega)^2*(omega_0/omega+omega/omega_0-sin(beta)^2)",
    lambda omega, omega_0, alpha, h, m, c, beta: alpha ** 2 * h ** 2 / (4 * PI * m ** 2 * c ** 2)
    * (omega_0 / omega) ** 2 * (omega_0 / omega + omega / omega_0 - torch.sin(beta) ** 2), _B, aliases=("test_20",))

# --- pykan's two-variable toy -------------------------------------------------------------------------------
_eq("test", 0, "x=-1..1 y=-1..1", "(x+y)*sin(exp(2*y))", lambda x, y: (x + y) * torch.sin(torch.exp(2 * y)), "toy")

